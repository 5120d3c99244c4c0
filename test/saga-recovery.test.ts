import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requestPayment } from '../app/payments/payment.commands.ts';
import { TEST_OWNER } from './helpers/app.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

// A system per test: a test kills workers and slows the gateway, which must not reach the next one.
// Gateway calls may take 15 s: the tests hold charges in flight for seconds on purpose.
let system: TestSystem;
beforeEach(async () => {
  system = await startSystem({ GATEWAY_ATTEMPT_TIMEOUT_MS: '15000' });
});
afterEach(async () => {
  await system?.close();
});

describe('scenario 5: recovery from a killed worker', () => {
  it('SIGKILL of the worker mid-saga: a new worker finishes every payment within 60 s, each applied once', {
    timeout: 90_000,
  }, async () => {
    // Slow gateway: charges are in flight when the worker dies.
    await system.control('alpha', { latency_ms: 1500 });
    const walletId = await system.newWallet(10_000);
    const accepted = await Promise.all(Array.from({ length: 10 }, () => system.pay(walletId, 100)));
    const ids = accepted.map((r) => r.body.id as string);

    const locked = await waitFor('a charge job in flight', async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from graphile_worker.jobs
         where task_identifier in ('payment__fraud_check', 'payment__charge_gateway') and locked_at is not null`.execute(
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
             (select count(*)::int from charge_attempts c where c.payment_id = p.id) as charges
        from payments p where p.wallet_id = ${walletId}::uuid`.execute(system.database.db);
    expect(rows.every((r) => r.completed === 1 && r.charges === 1)).toBe(true);
    // The gateway saw one charge per payment: retried calls reused the idempotency key.
    const stats = (await (await fetch(`${system.gatewayUrl}/alpha/_control`)).json()).stats;
    expect(stats.charges).toBe(10);
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('the job that debited dies mid-charge with no attempt left: the job of the charge step, enqueued with the debit, finishes the payment', {
    timeout: 90_000,
  }, async () => {
    // One worker whose calls time out after 2 s: its backstop for the charge is about 14 s.
    await Promise.all(system.workers.map((w) => w.kill('SIGKILL')));
    system.workers.length = 0;
    const first = await system.startWorker({ GATEWAY_ATTEMPT_TIMEOUT_MS: '2000' });
    // Its webhook lost: only asking the gateway again can find out how the charge ended.
    await system.control('alpha', { latency_ms: 1500, webhook_drop_rate: 1 });
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 100)).body;
    const fraudKey = `payment__fraud_check:${paid.id}`;
    const inFlight = await waitFor('the charge call in flight inside the job that debited', async () => {
      const { rows } = await sql<{ id: string; locked_by: string; backstop: boolean }>`
        select j.id::text, j.locked_by,
               exists (select 1 from graphile_worker.jobs c
                        where c.key = ${`payment__charge_gateway:${paid.id}`} and c.run_at > now()) as backstop
          from graphile_worker.jobs j
          join charge_attempts a on a.payment_id = ${paid.id}::uuid and a.calls = 1
         where j.key = ${fraudKey} and j.locked_at is not null`.execute(system.database.db);
      return rows[0];
    });
    // The debit's commit enqueued the charge step's own job, delayed past the calls in flight.
    expect(inFlight.backstop).toBe(true);
    await first.kill('SIGKILL');
    // The job that debited can never run again (as if its last attempt had been spent).
    await sql`select graphile_worker.force_unlock_workers(array[${inFlight.locked_by}]::text[])`.execute(
      system.database.db,
    );
    await sql`select graphile_worker.permanently_fail_jobs(array[${inFlight.id}]::bigint[], 'test: attempts spent')`.execute(
      system.database.db,
    );
    await system.control('alpha', { latency_ms: 0, webhook_drop_rate: 1 });
    await system.startWorker();
    const settled = await system.waitSettled(paid.id, 60_000);
    expect(settled).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    // Asked again with the same key: one charge at the gateway, one debit in the ledger.
    const stats = (await (await fetch(`${system.gatewayUrl}/alpha/_control`)).json()).stats;
    expect(stats.charges).toBe(1);
    expect((await walletState(system.database, walletId)).entries.map((e) => e.type)).toEqual([
      'DEPOSIT',
      'PAYMENT_DEBIT',
    ]);
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('re-drives a payment whose job was lost, once it is stuck past the threshold', async () => {
    const walletId = await system.newWallet(1000);
    // A payment whose fraud-check job is lost (removed in the very transaction that enqueued it).
    const accepted = await system.database.db.transaction().execute(async (trx) => {
      const payment = await requestPayment(
        trx,
        {
          ownerId: TEST_OWNER,
          walletId,
          serviceId: 's',
          amount: 100,
          currency: 'USD',
          description: null,
          metadata: {},
          traceId: 'lost',
        },
        {
          jobMaxAttempts: 3,
          webhookDeadlineSeconds: 2,
          unknownRetryMaxSeconds: 60,
          chargeBackstopSeconds: 30,
        },
      );
      await sql`select graphile_worker.remove_job(${`payment__fraud_check:${payment.id}`})`.execute(trx);
      return payment;
    });
    await sql`update payments set updated_at = now() - interval '10 minutes' where id = ${accepted.id}::uuid`.execute(
      system.database.db,
    );
    const stuckList = await sql<{
      payment_id: string;
    }>`select payment_id from audit__stuck_payments(interval '5 minutes')`.execute(system.database.db);
    expect(stuckList.rows.map((r) => r.payment_id)).toContain(accepted.id);

    const redriven = await sql<{
      payment_id: string;
      task: string;
    }>`select * from payment__redrive_stuck(interval '5 minutes')`.execute(system.database.db);
    expect(redriven.rows).toContainEqual({ payment_id: accepted.id, task: 'payment__fraud_check' });
    const settled = await system.waitSettled(accepted.id);
    expect(settled.status).toBe('COMPLETED');
    expect(settled.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toContain(
      'sweeper:redriven',
    );
  });

  it("never unlocks a live worker's job that runs past the dead-worker threshold", async () => {
    const deadAfterSeconds = Number(system.env.WORKER_DEAD_AFTER_SECONDS);
    // The charge call outlasts WORKER_DEAD_AFTER_SECONDS plus two sweeps: the sweep must leave it alone.
    await system.control('alpha', { latency_ms: 8000 });
    const walletId = await system.newWallet(1000);
    const accepted = (await system.pay(walletId, 100)).body;
    const key = `payment__fraud_check:${accepted.id}`; // the charge runs in the job that debited
    const jobLock = async () =>
      (
        await sql<{ locked_at: Date | null; locked_by: string | null }>`
          select locked_at, locked_by from graphile_worker.jobs where key = ${key}`.execute(
          system.database.db,
        )
      ).rows;
    const [locked] = await waitFor('the charge job to start', async () => {
      const rows = await jobLock();
      return rows[0]?.locked_at ? rows : undefined;
    });
    // By Postgres' clock, which is the sweep's: the lock is now older than the threshold plus two sweeps.
    await waitFor('the lock to outlive the dead-worker threshold', async () => {
      const { rows } = await sql<{ age: number }>`
        select extract(epoch from now() - ${locked?.locked_at}::timestamptz)::float8 as age`.execute(
        system.database.db,
      );
      return (rows[0]?.age ?? 0) > deadAfterSeconds + 2;
    });
    // Still the same lock: not unlocked (and not taken again, which would show a new locked_at).
    expect(await jobLock()).toEqual([locked]);
    const settled = await system.waitSettled(accepted.id);
    expect(settled.status).toBe('COMPLETED');
    const stats = (await (await fetch(`${system.gatewayUrl}/alpha/_control`)).json()).stats;
    expect(stats.charges).toBe(1);
  });
});
