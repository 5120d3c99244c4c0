import fc from 'fast-check';
import { sql } from 'kysely';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from './helpers/app.ts';
import { type FuzzContext, type FuzzRequest, fuzzRequest } from './helpers/fuzz.ts';
import { contractViolations } from './helpers/openapi-contract.ts';
import { waitFor } from './helpers/processes.ts';
import { CLEAN_AUDIT_DETAILS, startSystem, type TestSystem } from './helpers/system.ts';

/**
 * Fuzzing the running API (real HTTP, real Postgres, a worker and the gateway simulator): requests
 * generated from the route schemas and mutated (test/helpers/fuzz.ts). The property: no answer is
 * a 5xx, every answer is one docs/openapi.json allows (test/helpers/openapi-contract.ts), and every
 * 4xx is application/problem+json with type, title and status. Afterwards, once
 * every payment and refund it started has settled, every audit is clean.
 * Short profile in `npm test` (FUZZ_RUNS, default 300); `npm run fuzz` runs 10,000. FUZZ_SEED
 * replays a run (fast-check prints the seed and the shrunk request of a failure).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

let system: TestSystem;
let ctx: FuzzContext;
beforeAll(async () => {
  system = await startSystem();
  const walletIds = [
    await system.newWallet(1_000_000),
    await system.newWallet(500),
    await system.newWallet(0),
  ];
  const paid = await system.pay(walletIds[0] as string, 1000, { wait: 10 });
  expect(paid.body.status).toBe('COMPLETED');
  ctx = {
    walletIds,
    paymentIds: [paid.body.id],
    adminToken: ADMIN_TOKEN,
    apiKey: system.api.apiKey,
    secrets: { alpha: system.api.config.GATEWAY_ALPHA_SECRET, beta: system.api.config.GATEWAY_BETA_SECRET },
  };
});
afterAll(async () => {
  await system?.close();
});

const parsed = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
};

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(req: FuzzRequest): Promise<Answer> {
  const res = await request(`${system.api.baseUrl}${req.path}`, {
    method: req.method as 'GET',
    headers: req.headers,
    body: req.body,
    headersTimeout: 40_000,
  });
  return {
    status: res.statusCode,
    contentType: String(res.headers['content-type'] ?? ''),
    text: await res.body.text(),
  };
}

/** Why an answer breaks what the API promises (docs/openapi.json, docs/errors.md), or undefined. */
function breach(req: FuzzRequest, answer: Answer): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}: ${answer.text.slice(0, 300)}`;
  const undocumented = contractViolations({
    method: req.method,
    path: req.path,
    status: answer.status,
    contentType: answer.contentType || null,
    body: parsed(answer.text),
  });
  if (undocumented.length > 0)
    return `answered ${answer.status}, which docs/openapi.json does not allow: ${undocumented.join('; ')}: ${answer.text.slice(0, 300)}`;
  if (answer.status < 400) return undefined;
  if (!answer.contentType.startsWith('application/problem+json'))
    return `a ${answer.status} as ${answer.contentType}: ${answer.text.slice(0, 300)}`;
  const problem = JSON.parse(answer.text) as {
    type?: unknown;
    title?: unknown;
    status?: unknown;
    code?: unknown;
  };
  if (
    typeof problem.type !== 'string' ||
    typeof problem.title !== 'string' ||
    problem.status !== answer.status
  )
    return `a ${answer.status} problem without type, title or the right status: ${answer.text.slice(0, 300)}`;
  if (typeof problem.code !== 'string')
    return `a ${answer.status} problem without a code: ${answer.text.slice(0, 300)}`;
  return undefined;
}

describe('fuzzing the API', () => {
  it(
    `answers ${RUNS} generated requests without a 5xx, every error as problem+json; audits clean after`,
    async () => {
      const statuses = new Map<number, number>();
      const byRoute = new Map<string, Record<number, number>>();
      const started = Date.now();
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fuzzRequest(ctx), async (req) => {
          const answer = await send(req);
          sent++;
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const route = byRoute.get(req.route) ?? {};
          route[answer.status] = (route[answer.status] ?? 0) + 1;
          byRoute.set(req.route, route);
          const wrong = breach(req, answer);
          if (wrong) throw new Error(`${req.method} ${req.path.slice(0, 300)} (${req.route}) ${wrong}`);
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
      const seconds = (Date.now() - started) / 1000;

      // Quiescence: every payment and refund the run started has settled.
      const { db } = system.database;
      await waitFor(
        'every payment and refund to settle',
        async () => {
          const { rows } = await sql<{ open: number }>`
            select (select count(*) from payments where status in ('PENDING', 'PROCESSING'))
                 + (select count(*) from refunds where status = 'PENDING') as open`.execute(db);
          return Number(rows[0]?.open) === 0;
        },
        60_000,
        250,
      );
      const { rows } = await sql<{ discrepancies: number; details: Record<string, number> }>`
        select discrepancies, details from audit__run()`.execute(db);
      expect(rows[0]).toEqual({
        discrepancies: 0,
        details: CLEAN_AUDIT_DETAILS,
      });
      const { rows: replay } = await sql`select * from replay__verify()`.execute(db);
      expect(replay).toEqual([]);

      const counts = Object.fromEntries([...statuses.entries()].sort(([a], [b]) => a - b));
      process.stdout.write(
        `[fuzz] ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s), statuses ${JSON.stringify(counts)}\n` +
          [...byRoute.entries()].map(([route, c]) => `[fuzz]   ${route}: ${JSON.stringify(c)}`).join('\n') +
          '\n',
      );
      expect(sent).toBeGreaterThanOrEqual(RUNS);
    },
    RUNS * 300 + 120_000,
  );
});
