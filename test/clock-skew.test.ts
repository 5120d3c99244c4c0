import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * A worker whose wall clock is off (a host whose NTP stopped) must decide nothing about shared
 * state by its own clock: whether a worker is dead, whether a job is due, whether a deadline has
 * passed are Postgres' clock's decisions. Each test runs a worker with Date.now() shifted by ten
 * minutes (test/helpers/skewed-clock.mjs) against a Postgres that keeps the true time.
 */
const TEN_MINUTES_MS = 10 * 60_000;
const skewedClock = (offsetMs: number) => ({
  TEST_CLOCK_OFFSET_MS: String(offsetMs),
  NODE_OPTIONS: `--import=${fileURLToPath(new URL('./helpers/skewed-clock.mjs', import.meta.url))}`,
});
const SKEWS = [
  ['behind', -TEN_MINUTES_MS],
  ['ahead', TEN_MINUTES_MS],
] as const;

const DEADLINE_SECONDS = 3;
// A system per test, with no worker: each test starts the skewed worker it is about.
let s: TestSystem;
beforeEach(async () => {
  s = await startSystem(
    { WEBHOOK_DEADLINE_SECONDS: String(DEADLINE_SECONDS), GATEWAY_ATTEMPT_TIMEOUT_MS: '15000' },
    { workers: 0 },
  );
});
afterEach(async () => {
  await s?.close();
});

/** When a payment step was recorded, by Postgres' clock (payment_steps.at defaults to now()). */
const stepAt = async (paymentId: string, name: string, status: string) =>
  waitFor(`step ${name}:${status} of ${paymentId}`, async () => {
    const { rows } = await sql<{ at: Date }>`
      select at from payment_steps where payment_id = ${paymentId}::uuid and name = ${name} and status = ${status}
       order by id limit 1`.execute(s.database.db);
    return rows[0]?.at;
  });

describe('a worker whose clock is off by ten minutes', () => {
  for (const [direction, offsetMs] of SKEWS) {
    it(`(${direction}) polls a pending charge at the webhook deadline by Postgres' clock: not before it, not minutes after`, async () => {
      const deadlineSeconds = DEADLINE_SECONDS;
      await s.startWorker(skewedClock(offsetMs));
      // The charge stays pending: no webhook within the test, so only the deadline's poll can act.
      await s.control('alpha', { webhook_delay_ms: 120_000 });
      const walletId = await s.newWallet(1000);
      const paymentId = (await s.pay(walletId, 100)).body.id as string;

      const requestedAt = await stepAt(paymentId, 'gateway_charge', 'requested');
      const { rows } = await sql<{ due_in: number }>`
        select extract(epoch from run_at - ${requestedAt}::timestamptz)::float8 as due_in
          from graphile_worker.jobs where key = ${`payment__poll_charge:${paymentId}`}`.execute(
        s.database.db,
      );
      // Scheduled the deadline after the charge was recorded pending (plus the transaction's own time).
      expect(rows[0]?.due_in).toBeGreaterThanOrEqual(deadlineSeconds);
      expect(rows[0]?.due_in).toBeLessThan(deadlineSeconds + 1);

      const polledAt = await stepAt(paymentId, 'status_poll', 'pending');
      const waited = (polledAt.getTime() - requestedAt.getTime()) / 1000;
      expect(waited).toBeGreaterThanOrEqual(deadlineSeconds);
      expect(waited).toBeLessThan(deadlineSeconds + 3);
    });

    it(`(${direction}) stamps what it settles with Postgres' time: a payment and its wallet are not dated by the worker`, async () => {
      await s.startWorker(skewedClock(offsetMs));
      // No webhook: the worker's poll at the deadline finds the charge settled and completes it.
      await s.control('alpha', { webhook_drop_rate: 1 });
      const walletId = await s.newWallet(1000);
      const paymentId = (await s.pay(walletId, 100)).body.id as string;
      expect((await s.waitSettled(paymentId)).status).toBe('COMPLETED');
      const { rows } = await sql<{ completed_lag: number; wallet_lag: number }>`
        select extract(epoch from now() - p.completed_at)::float8 as completed_lag,
               extract(epoch from now() - w.updated_at)::float8 as wallet_lag
          from payments p join wallets w on w.id = p.wallet_id where p.id = ${paymentId}::uuid`.execute(
        s.database.db,
      );
      // Both written moments ago by the database's clock, not ten minutes before or after.
      expect(rows[0]?.completed_lag).toBeGreaterThanOrEqual(0);
      expect(rows[0]?.completed_lag).toBeLessThan(30);
      expect(rows[0]?.wallet_lag).toBeGreaterThanOrEqual(0);
      expect(rows[0]?.wallet_lag).toBeLessThan(30);
    });

    it(`(${direction}) is neither declared dead while it beats nor kept alive after it is killed`, async () => {
      const deadAfterSeconds = Number(s.env.WORKER_DEAD_AFTER_SECONDS);
      const skewed = await s.startWorker(skewedClock(offsetMs));
      // The charge call outlasts the dead-worker threshold several times over.
      await s.control('alpha', { latency_ms: 8000 });
      const walletId = await s.newWallet(1000);
      const paymentId = (await s.pay(walletId, 100)).body.id as string;
      const key = `payment__fraud_check:${paymentId}`; // the charge runs in the job that debited
      const lock = await waitFor('the skewed worker to take the charge job', async () => {
        const { rows } = await sql<{ locked_at: Date; locked_by: string }>`
          select locked_at, locked_by from graphile_worker.jobs where key = ${key} and locked_at is not null`.execute(
          s.database.db,
        );
        return rows[0];
      });
      // A worker with a true clock sweeps for dead workers every second from now on.
      await s.startWorker();

      // Past the threshold plus two sweeps, by Postgres' clock: the live skewed worker keeps its job.
      await waitFor('the lock to outlive the dead-worker threshold', async () => {
        const { rows } = await sql<{ age: number }>`
          select extract(epoch from now() - ${lock.locked_at}::timestamptz)::float8 as age`.execute(
          s.database.db,
        );
        return (rows[0]?.age ?? 0) > deadAfterSeconds + 2;
      });
      const during = await sql<{ locked_at: Date | null; locked_by: string | null }>`
        select locked_at, locked_by from graphile_worker.jobs where key = ${key}`.execute(s.database.db);
      expect(during.rows).toEqual([lock]);

      // Killed: its job is unlocked within the threshold and a sweep or two, not ten minutes later.
      await skewed.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(
        'the dead worker to lose its job',
        async () => {
          const { rows } = await sql<{ locked_by: string | null }>`
            select locked_by from graphile_worker.jobs where key = ${key}`.execute(s.database.db);
          return rows[0]?.locked_by !== lock.locked_by;
        },
        (deadAfterSeconds + 4) * 1000,
      );
      expect(Date.now() - killedAt).toBeLessThan((deadAfterSeconds + 4) * 1000);
      await s.control('alpha', { latency_ms: 0 });
      expect((await s.waitSettled(paymentId)).status).toBe('COMPLETED');
    });
  }
});
