import { parseCrontab } from 'graphile-worker';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../app/config.ts';
import { requestPayment } from '../app/payments/payment.commands.ts';
import type { WorkerDeps } from '../workers/deps.ts';
import { createTaskList, crontab } from '../workers/tasks/index.ts';
import { paymentsDueForReconciliation } from '../workers/tasks/maintenance/reconcile-gateway.ts';
import { startTestApp, TEST_OWNER } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makeWallet } from './helpers/factories.ts';
import { request } from './helpers/http.ts';

/**
 * The time-driven pieces, each driven directly with a "now" the test chooses, and checked on both
 * sides of its boundary: a millisecond before, nothing happens; a millisecond after, it does.
 * (The same decisions under a worker whose clock is off: test/clock-skew.test.ts.)
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const T = '2020-01-01T12:00:00.000Z';
/** T plus some milliseconds, as an ISO string for a timestamptz parameter. */
const at = (ms: number) => new Date(Date.parse(T) + ms).toISOString();

describe('the dead-worker sweep (worker__unlock_dead)', () => {
  /** A job locked by graphile worker id `by` since `since`, as a running (or dead) worker leaves it. */
  async function lockedJob(by: string, since: string) {
    const { rows } = await sql<{ id: string }>`
      select id from graphile_worker.add_job('test__clock', '{}'::json, job_key => ${by})`.execute(
      database.db,
    );
    const id = rows[0]?.id as string;
    // graphile-worker has no public way to lock a job as a given worker at a given time (only its
    // runner locks, now, as itself): the private table is the one place to stage a dead worker's lock.
    await sql`update graphile_worker._private_jobs set locked_by = ${by}, locked_at = ${since}::timestamptz
               where id = ${id}::bigint`.execute(database.db);
    return id;
  }
  const lockOf = async (id: string) =>
    (
      await sql<{ locked_by: string | null }>`
        select locked_by from graphile_worker.jobs where id = ${id}::bigint`.execute(database.db)
    ).rows[0]?.locked_by;
  const sweep = async (nowIso: string) =>
    (
      await sql<{ ids: string[] }>`select worker__unlock_dead(3, ${nowIso}::timestamptz) as ids`.execute(
        database.db,
      )
    ).rows[0]?.ids;

  it('unlocks a job whose worker never beat only once its lock is older than the threshold', async () => {
    const job = await lockedJob('gw-silent', T);
    expect(await sweep(at(3000))).toEqual([]);
    expect(await lockOf(job)).toBe('gw-silent');
    expect(await sweep(at(3001))).toEqual(['gw-silent']);
    expect(await lockOf(job)).toBeNull();
  });

  it("keeps an old lock while its worker's heartbeat is fresh, and unlocks it once the heartbeat is stale", async () => {
    const job = await lockedJob('gw-beating', T);
    // Last beat at T + 10 s, by the database's clock (heartbeats are stamped with now()).
    await sql`insert into process_heartbeats (instance_id, role, pid, hostname, last_seen_at, graphile_worker_ids)
              values ('worker:test:1', 'worker', 1, 'test', ${at(10_000)}::timestamptz, '{gw-beating}')`.execute(
      database.db,
    );
    expect(await sweep(at(12_999))).toEqual([]);
    expect(await lockOf(job)).toBe('gw-beating');
    expect(await sweep(at(13_001))).toEqual(['gw-beating']);
    expect(await lockOf(job)).toBeNull();
    await sql`delete from process_heartbeats where instance_id = 'worker:test:1'`.execute(database.db);
  });
});

describe('stuck payments (payment__redrive_stuck, audit__stuck_payments)', () => {
  it('lists and re-drives a payment only once it has been unchanged longer than the threshold', async () => {
    const wallet = await makeWallet(database, { balance: 1000 });
    // A payment whose fraud-check job was lost (removed in the transaction that enqueued it).
    const payment = await database.db.transaction().execute(async (trx) => {
      const p = await paymentWithoutJob(trx, wallet.id, 'stuck');
      return p;
    });
    const fiveMinutes = 5 * 60_000;
    // "now" = the payment's last change plus `ms`, reckoned in SQL: updated_at has microseconds.
    const nowAfter = (ms: number) =>
      sql`(select updated_at from payments where id = ${payment.id}::uuid) + make_interval(secs => ${ms / 1000})`;
    const stuck = async (ms: number) =>
      (
        await sql<{ payment_id: string }>`
          select payment_id from audit__stuck_payments(interval '5 minutes', ${nowAfter(ms)})`.execute(
          database.db,
        )
      ).rows.map((r) => r.payment_id);
    const redrive = async (ms: number) =>
      (
        await sql<{ payment_id: string; task: string }>`
          select * from payment__redrive_stuck(interval '5 minutes', 3, ${nowAfter(ms)})`.execute(database.db)
      ).rows;
    const jobs = async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs
                                  where key = ${`payment__fraud_check:${payment.id}`}`.execute(database.db)
      ).rows[0]?.n;

    expect(await stuck(fiveMinutes)).not.toContain(payment.id);
    expect(await redrive(fiveMinutes)).toEqual([]);
    expect(await jobs()).toBe(0);

    expect(await stuck(fiveMinutes + 1)).toContain(payment.id);
    expect(await redrive(fiveMinutes + 1)).toEqual([
      { payment_id: payment.id, task: 'payment__fraud_check' },
    ]);
    expect(await jobs()).toBe(1);
  });
});

describe('idempotency key expiry (idempotency__prune)', () => {
  it('keeps a key until its expiry and forgets it just after', async () => {
    await sql`insert into idempotency_keys (owner_id, scope, key, request_hash, status, claim_token, locked_until,
                                            response_status, response_body, completed_at, expires_at)
              values (${TEST_OWNER}, 'test', 'expiring', 'h', 'COMPLETED', gen_random_uuid(), ${T}::timestamptz,
                      201, '{}'::jsonb, ${T}::timestamptz, ${T}::timestamptz)`.execute(database.db);
    const kept = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from idempotency_keys where key = 'expiring'`.execute(database.db)
      ).rows[0]?.n;
    await sql`select idempotency__prune(${T}::timestamptz)`.execute(database.db);
    expect(await kept()).toBe(1);
    await sql`select idempotency__prune(${at(1)}::timestamptz)`.execute(database.db);
    expect(await kept()).toBe(0);
  });
});

describe('the reconciliation window (paymentsDueForReconciliation)', () => {
  it('takes a settled payment once the grace has passed, and drops it once it leaves the window', async () => {
    const wallet = await makeWallet(database, { balance: 1000 });
    // A payment COMPLETED at T, with its charge (the reconciliation only looks at charged payments).
    const payment = await database.db.transaction().execute(async (trx) => {
      const p = await paymentWithoutJob(trx, wallet.id, 'reconcile');
      await sql`update payments set status = 'COMPLETED', saga_step = 'completed', provider = 'alpha',
                       updated_at = ${T}::timestamptz where id = ${p.id}::uuid`.execute(trx);
      await sql`insert into charge_attempts (payment_id, provider, idempotency_key, gateway_charge_id, amount,
                                             currency, status, calls, settled_by)
                values (${p.id}::uuid, 'alpha', ${`${p.id}:alpha`}, ${`ch_${p.id}`}, 100, 'USD', 'succeeded', 1,
                        'answer')`.execute(trx);
      return p;
    });
    const window = { graceSeconds: 30, windowMinutes: 60, batch: 1000 };
    const due = async (ms: number) =>
      (await paymentsDueForReconciliation(database.db, window, new Date(at(ms)))).map((p) => p.id);

    expect(await due(30_000)).not.toContain(payment.id);
    expect(await due(30_001)).toContain(payment.id);
    expect(await due(60 * 60_000 - 1)).toContain(payment.id);
    expect(await due(60 * 60_000)).not.toContain(payment.id);
  });
});

describe('outbox retention (outbox__prune)', () => {
  it('keeps a row until it is older than the retention and relayed, and deletes it just after both', async () => {
    const wallet = await makeWallet(database, { balance: 100 });
    const rowsOf = sql<{ n: number }>`
      select count(*)::int as n from outbox o join events e on e.event_id = o.event_id
       where e.aggregate_id = ${wallet.id}::uuid`;
    const count = async () => (await rowsOf.execute(database.db)).rows[0]?.n;
    expect(await count()).toBe(2);
    // The wallet's rows were written in one transaction: one created_at, C. "C + ms", in SQL (microseconds).
    const createdPlus = (ms: number) =>
      sql`(select max(o.created_at) from outbox o join events e on e.event_id = o.event_id
            where e.aggregate_id = ${wallet.id}::uuid) + make_interval(secs => ${ms / 1000})`;
    const relayedUntil = async (ms: number) =>
      sql`insert into relay_progress (slot_name, leader_instance, last_commit_at)
          values ('clock-test', 'test', ${createdPlus(ms)})
          on conflict (slot_name) do update set last_commit_at = excluded.last_commit_at`.execute(
        database.db,
      );
    const prune = async (ms: number) =>
      sql`select outbox__prune(interval '1 hour', ${createdPlus(ms)})`.execute(database.db);
    const hour = 60 * 60_000;

    // Relayed (the relay's last commit is after C); retention decides.
    await relayedUntil(1);
    await prune(hour);
    expect(await count()).toBe(2);
    await prune(hour + 1);
    expect(await count()).toBe(0);
  });

  it('keeps a row older than the retention while the relay has not acknowledged it', async () => {
    const wallet = await makeWallet(database, { balance: 100 });
    const count = async () =>
      (
        await sql<{ n: number }>`
          select count(*)::int as n from outbox o join events e on e.event_id = o.event_id
           where e.aggregate_id = ${wallet.id}::uuid`.execute(database.db)
      ).rows[0]?.n;
    const created = sql`(select max(o.created_at) from outbox o join events e on e.event_id = o.event_id
                          where e.aggregate_id = ${wallet.id}::uuid)`;
    // The relay's last acknowledged commit is exactly C: the rows of C itself are not known relayed.
    await sql`insert into relay_progress (slot_name, leader_instance, last_commit_at)
              values ('clock-test', 'test', ${created})
              on conflict (slot_name) do update set last_commit_at = excluded.last_commit_at`.execute(
      database.db,
    );
    await sql`select outbox__prune(interval '1 hour', ${created} + interval '1 day')`.execute(database.db);
    expect(await count()).toBe(2);
  });
});

describe('/health: the audit schedule and the heartbeats, by the database clock', () => {
  // The API reads the ages with now() in SQL; here the rows are placed 10-15 s either side of each
  // threshold, by the same clock (a couple of seconds was less than a busy machine takes between
  // the insert and the request).
  it('flags an audit overdue only past AUDIT_OVERDUE_SECONDS, and a worker dead only past HEALTH_STALE_SECONDS', async () => {
    const app = await startTestApp({ AUDIT_OVERDUE_SECONDS: '180', HEALTH_STALE_SECONDS: '30' }, database);
    try {
      const health = async () => (await request(app.baseUrl, 'GET', '/health')).body.checks;
      await sql`insert into audit_runs (ran_at, discrepancies, details)
                values (now() - interval '165 seconds', 0, '{}')`.execute(database.db);
      expect((await health()).audit.status).toBe('pass');
      await sql`update audit_runs set ran_at = now() - interval '195 seconds'
                 where id = (select max(id) from audit_runs)`.execute(database.db);
      expect((await health()).audit).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/overdue/),
      });

      await sql`insert into process_heartbeats (instance_id, role, pid, hostname, last_seen_at)
                values ('worker:health-test', 'worker', 1, 'test', now() - interval '20 seconds')`.execute(
        database.db,
      );
      expect((await health()).worker.status).toBe('pass');
      await sql`update process_heartbeats set last_seen_at = now() - interval '40 seconds'
                 where instance_id = 'worker:health-test'`.execute(database.db);
      expect((await health()).worker.status).toBe('fail');
    } finally {
      await app.close();
      await sql`delete from process_heartbeats where instance_id = 'worker:health-test'`.execute(database.db);
    }
  });
});

describe('the crontab', () => {
  it('runs each maintenance task the worker has, at the minutes it promises, and nothing else', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://unused/x' }, ['DATABASE_URL']);
    const tasks = Object.keys(createTaskList({ config } as unknown as WorkerDeps));
    const items = parseCrontab(crontab);
    // Which minutes of an hour (any hour, any day) each item fires at, asked of graphile-worker's own matcher.
    const firesAt = Object.fromEntries(
      items.map((item) => [
        item.identifier,
        Array.from({ length: 60 }, (_, min) => min).filter((min) =>
          item.match({ min, hour: 7, date: 12, month: 3, dow: 2 }),
        ),
      ]),
    );
    const everyMinute = Array.from({ length: 60 }, (_, min) => min);
    expect(firesAt).toEqual({
      maintenance__prune_idempotency_keys: [17],
      maintenance__sweep_dead_letters: everyMinute,
      maintenance__prune_outbox: [23],
      maintenance__audit: everyMinute,
      audit_full: [41],
      maintenance__redrive_stuck_payments: everyMinute,
      maintenance__reconcile_gateway: everyMinute,
    });
    // Every minute the incremental audit; once an hour the full one.
    expect(items.filter((i) => i.task === 'maintenance__audit').map((i) => i.payload ?? null)).toEqual([
      null,
      { full: true },
    ]);
    expect(tasks.filter((t) => t.startsWith('maintenance__')).sort()).toEqual(
      [...new Set(items.map((i) => i.task))].sort(),
    );
  });
});

/** A payment of 100 whose fraud-check job is removed in the transaction that enqueued it. */
async function paymentWithoutJob(
  trx: Parameters<typeof requestPayment>[0],
  walletId: string,
  traceId: string,
) {
  const p = await requestPayment(
    trx,
    {
      ownerId: TEST_OWNER,
      walletId,
      serviceId: 's',
      amount: 100,
      currency: 'USD',
      description: null,
      metadata: {},
      traceId,
    },
    { jobMaxAttempts: 3, webhookDeadlineSeconds: 2, unknownRetryMaxSeconds: 60, chargeBackstopSeconds: 30 },
  );
  await sql`select graphile_worker.remove_job(${`payment__fraud_check:${p.id}`})`.execute(trx);
  return p;
}
