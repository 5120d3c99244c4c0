import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({ GATEWAY_ATTEMPT_TIMEOUT_MS: '5000' });
});
afterAll(async () => {
  await system?.close();
});

describe('scenario 5: recovery from a killed worker', () => {
  it('SIGKILL of the worker mid-saga: a new worker finishes every payment within 60 s, each applied once', async () => {
    // Slow gateway: charges are in flight when the worker dies.
    await system.control('alpha', { latency_ms: 1500 });
    const walletId = await system.newWallet(10_000);
    const accepted = await Promise.all(Array.from({ length: 10 }, () => system.pay(walletId, 100)));
    const ids = accepted.map((r) => r.body.id as string);

    const locked = await waitFor('a charge job in flight', async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from graphile_worker.jobs
         where task_identifier = 'payment__charge_gateway' and locked_at is not null`.execute(
        system.database.db,
      );
      return (rows[0]?.n ?? 0) > 0;
    });
    expect(locked).toBe(true);
    const [dead] = system.workers;
    await dead?.kill('SIGKILL');
    const stranded = await sql<{ n: number }>`
      select count(*)::int as n from graphile_worker.jobs where locked_at is not null`.execute(
      system.database.db,
    );
    expect(stranded.rows[0]?.n).toBeGreaterThan(0); // graphile-worker alone would leave these for 4 hours

    const killedAt = Date.now();
    await system.startWorker();
    const settled = await Promise.all(ids.map((id) => system.waitSettled(id, 60_000)));
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    expect(settled.map((p) => p.status)).toEqual(ids.map(() => 'COMPLETED'));

    const state = await walletState(system.database, walletId);
    expect(state.entries.filter((e) => e.type === 'PAYMENT_DEBIT')).toHaveLength(10);
    expect(state.balance).toBe(10_000 - 10 * 100);
    const { rows } = await sql<{ payment_id: string; completed: number; charges: number }>`
      select p.id as payment_id,
             (select count(*)::int from events e where e.aggregate_id = p.id and e.event_type = 'payment.completed') as completed,
             (select count(*)::int from payment_charges c where c.payment_id = p.id) as charges
        from payments p where p.wallet_id = ${walletId}::uuid`.execute(system.database.db);
    expect(rows.every((r) => r.completed === 1 && r.charges === 1)).toBe(true);
    // The gateway saw one charge per payment: retried calls reused the idempotency key.
    const stats = (await (await fetch(`${system.gatewayUrl}/alpha/_control`)).json()).stats;
    expect(stats.charges).toBe(10);
    expect(await auditIsClean(system.database)).toBe(true);
  });
});
