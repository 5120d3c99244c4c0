import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { request } from './helpers/http.ts';
import { type PrivatePostgres, startPrivatePostgres } from './helpers/private-postgres.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

/**
 * Postgres goes away for two seconds and comes back; no process is killed. Every role must either
 * carry on or exit so that its supervisor restarts it: none may stay up with a dead job runner.
 */
let postgres: PrivatePostgres;
let system: TestSystem;
beforeAll(async () => {
  postgres = await startPrivatePostgres();
  system = await startSystem(
    { GATEWAY_ATTEMPT_TIMEOUT_MS: '5000' },
    { database: postgres.database, supervise: true },
  );
});
afterAll(async () => {
  await system?.close();
  await postgres?.stop();
});

describe('a Postgres restart under load, no process killed', () => {
  it('every payment settles within 30 s of its return, the crons run again and /health tells the truth', async () => {
    const db = system.database.db;
    onTestFailed(() => {
      for (const w of system.workers) process.stderr.write(`worker ${w.pid}:\n${w.output().slice(-8000)}\n`);
      for (const r of system.restarts)
        process.stderr.write(`restarted ${r.role} ${r.pid} (exit ${r.exit}):\n${r.output.slice(-6000)}\n`);
    });
    await system.control('alpha', { latency_ms: 1500 });
    const walletId = await system.newWallet(100_000);
    const accepted = await Promise.all(Array.from({ length: 20 }, () => system.pay(walletId, 100)));
    expect(accepted.map((r) => r.status)).toEqual(accepted.map(() => 202));
    const ids = accepted.map((r) => r.body.id as string);
    await waitFor('charges in flight', async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from graphile_worker.jobs
         where task_identifier in ('payment__fraud_check', 'payment__charge_gateway') and locked_at is not null`.execute(
        db,
      );
      return (rows[0]?.n ?? 0) >= 5;
    });

    await postgres.outage(2000);
    const back = Date.now();

    // A payment made after the outage (the API's pool reconnects; its first tries may fail).
    const late = await waitFor('a payment accepted after the outage', async () => {
      const res = await system.pay(walletId, 100, { key: 'late-after-outage' });
      return res.status === 202 ? res : undefined;
    });
    ids.push(late.body.id);

    const settled = await Promise.all(ids.map((id) => system.waitSettled(id, 30_000 - (Date.now() - back))));
    expect(settled.map((p) => p.status)).toEqual(ids.map(() => 'COMPLETED'));

    const state = await walletState(system.database, walletId);
    expect(state.entries.filter((e) => e.type === 'PAYMENT_DEBIT')).toHaveLength(21);
    expect(state.balance).toBe(100_000 - 21 * 100);
    expect(await auditIsClean(system.database)).toBe(true);

    // The crons run again: the next minute's audit and reconciliation.
    const backAt = new Date(back);
    await waitFor(
      'an audit and a reconciliation after the outage',
      async () => {
        const audit = await db
          .selectFrom('audit_runs')
          .select('id')
          .where('ran_at', '>', backAt)
          .executeTakeFirst();
        const reconcile = await db
          .selectFrom('gateway_reconciliation_checks')
          .select('payment_id')
          .where('checked_at', '>', backAt)
          .executeTakeFirst();
        return audit && reconcile;
      },
      90_000,
      500,
    );

    // /health reports a worker whose runner runs, and the audit since the outage.
    const health = await request(system.api.baseUrl, 'GET', '/health');
    expect(health.body.checks.worker.status).toBe('pass');
    expect(health.body.checks.audit.status).toBe('pass');
    // The worker exited and was restarted (it did not stay up with a dead runner); no job is left
    // locked by a pool that no live worker claims.
    const workerRestarts = system.restarts.filter((r) => r.role === 'worker');
    expect(workerRestarts.length).toBeGreaterThan(0);
    expect(workerRestarts[0]?.exit).toBe(1);
    expect(workerRestarts[0]?.output).toContain('the job runner stopped');
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from graphile_worker.jobs j
       where j.locked_by is not null
         and not exists (select 1 from process_heartbeats h
                          where h.role = 'worker' and j.locked_by = any (h.graphile_worker_ids)
                            and h.last_seen_at > now() - interval '5 seconds')`.execute(db);
    expect(rows[0]?.n).toBe(0);
  }, 180_000);

  it('Prefer: wait listens again after an outage longer than one reconnect attempt', async () => {
    await system.control('alpha', { latency_ms: 0 });
    const walletId = await system.newWallet(1_000);
    const metric = async () =>
      (await (await fetch(`${system.api.baseUrl}/metrics`)).text()).match(
        /^payment_waiter_listening(?:\{[^}]*\})? (\d)$/m,
      )?.[1];
    expect(await metric()).toBe('1');

    await postgres.outage(6000);
    await waitFor('the listener back', async () => (await metric()) === '1', 30_000, 200);
    await waitFor('the worker back', async () => {
      const health = await request(system.api.baseUrl, 'GET', '/health');
      return health.body.checks?.worker?.status === 'pass';
    });

    // The payment settles in well under a second; the request must not sit out its 20 s wait.
    const started = Date.now();
    const res = await system.pay(walletId, 100, { wait: 20 });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('COMPLETED');
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 90_000);
});
