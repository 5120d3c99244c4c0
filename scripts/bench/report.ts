import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BenchFigures, benchmarkChart } from '../lib/bench-chart.ts';
import { AUDIT_FACTOR, type AuditResult, type AuditScale, FRESH_PAYMENTS } from './audit.ts';
import { f, median, say } from './common.ts';
import type { BenchResults } from './context.ts';
import type { Invariants } from './invariants.ts';
import { LATENCY_RATES } from './latency.ts';
import type { LightResult } from './light.ts';
import { quantile } from './metrics.ts';
import { RELAY_RATE, RELAY_SECONDS, type RelayResult } from './relay.ts';
import { SCALING_WORKERS } from './scaling.ts';

// ---------------------------------------------------------------- report
export type Row = [string, string, string];

export interface ReportInput {
  results: BenchResults;
  light: LightResult;
  relay: RelayResult;
  /** Job pickup and relay lag histograms over the whole run (before the light phase). */
  pickup: Map<number, number>;
  relayLag: Map<number, number>;
  relayEvents: number;
  memory: Record<string, number>;
  invariants: Invariants;
  /** The audit phase, when it ran. */
  audit: AuditResult | undefined;
}

/** The table's rows, and the figures of the chart. */
export function buildReport(input: ReportInput): { rows: Row[]; chart: BenchFigures } {
  const { results, light, relay: relayPhase, pickup, relayLag, relayEvents, memory, invariants } = input;
  const TX_PER_PAYMENT = median(results.txPerPayment);
  const base = median(results.pgbench);
  const ceiling = median(results.ceiling);
  const e2e0 = median(results.e2e0);
  const e2e50 = median(results.e2e50);
  const rows: Row[] = [
    ['pgbench -N, 8 clients, 20 s (tps)', f(base, 0), 'baseline'],
    [
      "the payment's necessary SQL, 8 clients, 20 s (payments/s)",
      f(ceiling, 0),
      'ceiling: create, debit, complete; 3 transactions each (scripts/bench/ceiling-payment.pgbench)',
    ],
    [
      'payments/s end to end, gateway 0 ms',
      f(e2e0),
      `${f((100 * e2e0) / ceiling)}% of the ceiling; x ${f(TX_PER_PAYMENT)} tx/payment (commits counted by Postgres) = ${f(e2e0 * TX_PER_PAYMENT, 0)} tx/s = ${f((100 * e2e0 * TX_PER_PAYMENT) / base)}% of pgbench`,
    ],
    ['payments/s end to end, gateway 50 ms', f(e2e50), `${f((100 * e2e50) / e2e0)}% of the 0 ms figure`],
    [
      'CPU ms per payment, gateway 0 ms: the system / the stand-ins',
      `${f(median(results.cpuSystem))} / ${f(median(results.cpuStandIns))}`,
      "system: API, workers, relay and Postgres (not the bench's connections); stand-ins: gateway simulator, mokapi",
    ],
    ...LATENCY_RATES.map((rate) => {
      const l = results.lat[rate] ?? { p50: [], p90: [], p97_5: [], p99: [] };
      return [
        `POST /payments at ${rate}/s: p50 / p90 / p97.5 / p99 (ms)`,
        `${f(median(l.p50))} / ${f(median(l.p90))} / ${f(median(l.p97_5))} / ${f(median(l.p99))}`,
        'open loop, evenly paced',
      ] as Row;
    }),
    [
      'POST /payments at 200/s, workers stopped: p50 / p90 / p97.5 / p99 (ms)',
      `${f(median(results.apiAlone.p50))} / ${f(median(results.apiAlone.p90))} / ${f(median(results.apiAlone.p97_5))} / ${f(median(results.apiAlone.p99))}`,
      'the API alone on the 2 cores',
    ],
    [
      'job pickup p50 / p99 (ms) at 10 payments/s',
      `${f(quantile(light.pickup, 0.5) * 1000)} / ${f(quantile(light.pickup, 0.99) * 1000)}`,
      'run_at (enqueued) -> start, first attempts, one 20 s run',
    ],
    [
      'relay commit -> Kafka ack p50 / p99 (ms) at 10 payments/s',
      `${f(quantile(light.relay, 0.5) * 1000)} / ${f(quantile(light.relay, 0.99) * 1000)}`,
      'about 70 events/s, one 20 s run',
    ],
    [
      `relay commit -> Kafka ack p50 / p99 (ms) at ${RELAY_RATE} events/s`,
      `${f(quantile(relayPhase.lag, 0.5) * 1000)} / ${f(quantile(relayPhase.lag, 0.99) * 1000)}`,
      `re-published events, ${f(relayPhase.rate, 0)} events/s generated for ${RELAY_SECONDS} s, one run`,
    ],
    [
      'job pickup p50 / p99 (ms), whole run',
      `${f(quantile(pickup, 0.5) * 1000)} / ${f(quantile(pickup, 0.99) * 1000)}`,
      'includes the backlog saturation builds; 10000 = the top bucket',
    ],
    [
      'relay commit -> Kafka ack p50 / p99 (ms), whole run',
      `${f(quantile(relayLag, 0.5) * 1000)} / ${f(quantile(relayLag, 0.99) * 1000)}`,
      `${relayEvents} events relayed`,
    ],
    ...SCALING_WORKERS.map(
      (w) =>
        [
          `payments/s with ${w} worker process(es)`,
          f(median(results.scaling[w] ?? [])),
          'gateway 0 ms',
        ] as Row,
    ),
    [
      'peak memory (MB, VmHWM)',
      Object.entries(memory)
        .map(([k, v]) => `${k} ${f(v, 0)}`)
        .join(', '),
      'mokapi and Postgres not included',
    ],
    ['errors (non-2xx, socket errors, payments not COMPLETED)', String(results.errors), 'must be 0'],
    [
      'invariants after the run',
      `audit discrepancies ${invariants.discrepancies}, replay differences ${invariants.replayDiff}`,
      `${invariants.payments} payments, ${invariants.events} events`,
    ],
    [
      'audit__run / replay__verify duration (ms)',
      `${f(invariants.auditMs, 0)} / ${f(invariants.replayMs, 0)}`,
      'over the data above; the audit runs every minute (cron)',
    ],
    ...auditRows(input.audit),
  ];
  const chart: BenchFigures = {
    pgbench: base,
    txPerPayment: TX_PER_PAYMENT,
    e2e0,
    e2e50,
    scaling: Object.fromEntries(SCALING_WORKERS.map((w) => [w, median(results.scaling[w] ?? [])])),
    p99: Object.fromEntries(LATENCY_RATES.map((r) => [r, median(results.lat[r]?.p99 ?? [])])),
    apiAloneP99: median(results.apiAlone.p99),
    pickupP50: quantile(light.pickup, 0.5) * 1000,
    relayP99: quantile(relayPhase.lag, 0.99) * 1000,
  };
  return { rows, chart };
}

/** The audit phase: each check at 1x / AUDIT_FACTOR x the data (n/a when the phase did not run). */
function auditRows(audit: AuditResult | undefined): Row[] {
  const both = (pick: (s: AuditScale) => number | string, format = (v: number | string) => String(v)) =>
    audit ? `${format(pick(audit.x1))} / ${format(pick(audit.x10))}` : 'n/a';
  const ms = (pick: (s: AuditScale) => number) => both(pick, (v) => f(v as number, 0));
  const label = `audit at 1x / ${AUDIT_FACTOR}x the data`;
  return [
    [
      `${label}: full (ms)`,
      ms((s) => s.fullMs),
      `audit__run over ${both((s) => s.events)} events (${both((s) => s.payments)} payments); discrepancies ${both((s) => s.fullDiscrepancies)}`,
    ],
    [
      `${label}: incremental (ms)`,
      ms((s) => s.incrementalMs),
      `audit__run_incremental after ${FRESH_PAYMENTS} fresh payments, ${both((s) => s.eventsSince)} events since the run it starts from; kind ${both((s) => s.incrementalKind)}, discrepancies ${both((s) => s.incrementalDiscrepancies)}`,
    ],
    [
      `${label}: replay__verify (ms)`,
      ms((s) => s.replayMs),
      `replay differences ${both((s) => s.replayDiff)}; ${AUDIT_FACTOR}x: the history copied ${AUDIT_FACTOR - 1} times under fresh ids (scripts/bench/clone-history.sql)`,
    ],
  ];
}

export function printReport(rows: Row[]): void {
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\n${rows.map(([a, b, c]) => `${a.padEnd(width)}  ${b}   (${c})`).join('\n')}\n\n`);
}

/** docs/benchmarks.md (the table between the bench markers) and docs/benchmarks.svg: full runs only. */
export function writeDocs(
  rows: Row[],
  chart: BenchFigures,
  run: { runs: number; loadSeconds: number; external: string | undefined },
): void {
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${f(os.totalmem() / 2 ** 30, 0)} GiB, Node ${process.version}, ${run.external ? 'external Postgres' : 'embedded Postgres 18 (fsync on, synchronous_commit on)'}, mokapi broker`;
  const markdown = `| measurement | median of ${run.runs} runs | note |\n|---|---|---|\n${rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`).join('\n')}\n`;
  const docPath = path.resolve('docs/benchmarks.md');
  if (existsSync(docPath)) {
    const doc = readFileSync(docPath, 'utf8');
    const stamped = `<!-- bench:start -->\nMeasured ${new Date().toISOString().slice(0, 16)}Z on ${machine}; load ${run.loadSeconds} s per throughput run.\n\n${markdown}<!-- bench:end -->`;
    writeFileSync(docPath, doc.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, stamped));
  }
  writeFileSync(path.resolve('docs/benchmarks.svg'), benchmarkChart(chart));
  say('wrote docs/benchmarks.md (the table between the bench markers) and docs/benchmarks.svg');
}
