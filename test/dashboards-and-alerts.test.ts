import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensurePromtool } from '../scripts/lib/promtool.ts';
import { metricFamilies, scrape } from './helpers/metrics.ts';
import { isExported, metricNames } from './helpers/promql.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * The alert rules and the Prometheus configuration pass promtool (and the rules their unit tests);
 * every metric the dashboard and the rules read is one some role really exports, scraped from a
 * running system.
 */
const RULES = 'ops/prometheus/alerts.yml';
const DASHBOARD = 'ops/grafana/dashboards/payments.json';
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up']);

let promtool: string;
beforeAll(() => {
  // Installs Debian's prometheus package when promtool is missing (root: apt-get update, install).
  promtool = ensurePromtool();
}, 600_000);

const run = (...args: string[]) => execFileSync(promtool, args, { encoding: 'utf8', stdio: 'pipe' });

describe('promtool', () => {
  it('checks the alert rules', () => {
    expect(run('check', 'rules', RULES)).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('checks the Prometheus configuration, with the rule files it loads', () => {
    expect(run('check', 'config', 'ops/prometheus.yml')).toMatch(/SUCCESS: 1 rule files found/);
  });

  it("passes the rules' unit tests", () => {
    expect(run('test', 'rules', 'ops/prometheus/alerts.test.yml')).toMatch(/SUCCESS/);
  });
});

/** Every PromQL expression of the dashboard's panels (rows' nested panels too). */
function dashboardExpressions(): string[] {
  type Panel = { panels?: Panel[]; targets?: { expr?: string }[] };
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const walk = (panels: Panel[]): string[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : [])),
      ...walk(p.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

function ruleExpressions(): string[] {
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

describe('the metrics the dashboard and the alerts read', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({}, { relays: 1 });
  });
  afterAll(async () => {
    await system?.close();
  });

  it('reads the names as PromQL has them', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="api", status_code=~"5.."}[$__rate_interval]))) > 1e9 or vector(0) and on (slot) up offset 5m',
      ).sort(),
    ).toEqual(['http_request_duration_seconds_bucket', 'up']);
  });

  it('are all exported by a role: api, worker or relay (the gateway simulator exports none)', async () => {
    const workerPort = await system.workers[0]?.listening('metrics');
    const relayPort = await system.relays[0]?.listening('metrics');
    const roles = {
      api: await scrape(`${system.api.baseUrl}/metrics`),
      worker: await scrape(`http://127.0.0.1:${workerPort}/metrics`),
      relay: await scrape(`http://127.0.0.1:${relayPort}/metrics`),
    };
    expect((await fetch(`${system.gatewayUrl}/metrics`)).status).toBe(404);
    const families = new Map<string, string>();
    for (const text of Object.values(roles))
      for (const [name, type] of metricFamilies(text)) families.set(name, type);

    const used = (expressions: string[]) => [...new Set(expressions.flatMap(metricNames))].sort();
    const dashboard = used(dashboardExpressions());
    const rules = used(ruleExpressions());
    expect(dashboard.length).toBeGreaterThan(20);
    expect(rules.length).toBeGreaterThan(8);
    const missing = (names: string[]) =>
      names.filter((n) => !PROMETHEUS_SERIES.has(n) && !isExported(n, families));
    expect(missing(dashboard), 'dashboard metrics no role exports').toEqual([]);
    expect(missing(rules), 'alert metrics no role exports').toEqual([]);
  });
});
