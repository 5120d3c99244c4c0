import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from './helpers/app.ts';
import { keptAtGateway } from './helpers/gateway.ts';
import { idem, request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

let system: TestSystem;
beforeAll(async () => {
  // Two attempts per job: a poison job reaches the dead letters in about three seconds.
  system = await startSystem({ JOB_MAX_ATTEMPTS: '2' });
});
afterAll(async () => {
  await system?.close();
});
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
  // A test that stops the worker and fails before starting it again must not leave the next without one.
  if (system.workers.length === 0) await system.startWorker();
});

const refund = (paymentId: string, body: object, key: string) =>
  request(system.api.baseUrl, 'POST', `/payments/${paymentId}/refunds`, { body, headers: idem(key) });
const payment = async (id: string) => (await request(system.api.baseUrl, 'GET', `/payments/${id}`)).body;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('refunds', () => {
  it('refunds partly, then the rest: PARTIALLY_REFUNDED, then REFUNDED, the wallet credited each time', async () => {
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 1000, { wait: 15 })).body;
    expect(paid.status).toBe('COMPLETED');

    const partial = await refund(paid.id, { amount: 300, reason: 'one item returned' }, `r1-${paid.id}`);
    expect(partial.status).toBe(202);
    expect(partial.body).toMatchObject({ payment_id: paid.id, amount: 300, status: 'PENDING' });
    await waitFor('partial refund', async () => (await payment(paid.id)).status === 'PARTIALLY_REFUNDED');
    expect((await payment(paid.id)).refunded_amount).toBe(300);
    expect((await walletState(system.database, walletId)).balance).toBe(300);

    const rest = await refund(paid.id, {}, `r2-${paid.id}`);
    expect(rest.body.amount).toBe(700);
    await waitFor('full refund', async () => (await payment(paid.id)).status === 'REFUNDED');
    const state = await walletState(system.database, walletId);
    expect(state.balance).toBe(1000);
    expect(state.entries.map((e) => `${e.type}:${e.amount}`)).toEqual([
      'DEPOSIT:1000',
      'PAYMENT_DEBIT:-1000',
      'REFUND:300',
      'REFUND:700',
    ]);
    const events = (await request(system.api.baseUrl, 'GET', `/payments/${paid.id}/events`)).body.items.map(
      (e: { event_type: string }) => e.event_type,
    );
    expect(events.filter((t: string) => t.includes('refund'))).toEqual([
      'payment.refund_requested',
      'wallet.refund_credited',
      'payment.refunded',
      'payment.refund_requested',
      'wallet.refund_credited',
      'payment.refunded',
    ]);
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('refuses a refund over what is left (422) and of a rejected payment (409), changing nothing', async () => {
    const walletId = await system.newWallet(500);
    const paid = (await system.pay(walletId, 400, { wait: 15 })).body;
    expect(paid.status).toBe('COMPLETED');
    const rejected = (await system.pay(walletId, 10_000, { wait: 15 })).body;
    expect(rejected.status).toBe('REJECTED');
    // No worker while the refusals are made: the accepted refund stays in flight (reserved, not
    // settled), so nothing moves on its own between the two snapshots.
    for (const worker of system.workers) await worker.kill('SIGTERM');
    system.workers.length = 0;
    const first = await refund(paid.id, { amount: 300 }, `r-${paid.id}`);
    expect(first.status).toBe(202);

    const refusedKeys = [`r-over-${paid.id}`, `r-rej-${rejected.id}`, `r-missing-${paid.id}`];
    const before = await footprint(walletId, [paid.id, rejected.id], refusedKeys);
    expect(before.payments.find((p) => p.id === paid.id)).toMatchObject({ refund_reserved: 300 });
    // 300 is reserved while in flight: only 100 is left.
    const over = await refund(paid.id, { amount: 101 }, refusedKeys[0] as string);
    expect(over.status).toBe(422);
    expect(over.body.code).toBe('REFUND_EXCEEDS_REMAINING');
    const notRefundable = await refund(rejected.id, {}, refusedKeys[1] as string);
    expect(notRefundable.status).toBe(409);
    expect(notRefundable.body.code).toBe('PAYMENT_NOT_REFUNDABLE');
    const missing = await refund('00000000-0000-4000-8000-000000000000', {}, refusedKeys[2] as string);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('PAYMENT_NOT_FOUND');
    expect(await footprint(walletId, [paid.id, rejected.id], refusedKeys)).toEqual(before);

    // A worker again: the accepted refund settles, the refused ones left no trace to settle.
    await system.startWorker();
    await waitFor(
      'the accepted refund to settle',
      async () => (await payment(paid.id)).refunded_amount === 300,
    );
    expect((await walletState(system.database, walletId)).balance).toBe(500 - 400 + 300);
  });
});

/** What a refund request could change: the wallet, its ledger, the payments, their refunds and events, the keys. */
async function footprint(walletId: string, paymentIds: string[], keys: string[]) {
  const { db } = system.database;
  return {
    wallet: await db
      .selectFrom('wallets')
      .select(['balance', 'version', 'updated_at'])
      .where('id', '=', walletId)
      .executeTakeFirst(),
    ledger: await db
      .selectFrom('ledger_entries')
      .select(['id', 'amount'])
      .where('wallet_id', '=', walletId)
      .execute(),
    payments: await db
      .selectFrom('payments')
      .select(['id', 'status', 'version', 'refunded_amount', 'refund_reserved', 'updated_at'])
      .where('id', 'in', paymentIds)
      .orderBy('id')
      .execute(),
    refunds: await db
      .selectFrom('refunds')
      .select(['id', 'amount', 'status'])
      .where('payment_id', 'in', paymentIds)
      .execute(),
    events: await db
      .selectFrom('events')
      .select('event_id')
      .where('aggregate_id', 'in', [walletId, ...paymentIds])
      .orderBy('position')
      .execute(),
    idempotencyKeys: await db.selectFrom('idempotency_keys').select('key').where('key', 'in', keys).execute(),
  };
}

describe('dead letters', () => {
  it('moves a job that cannot go on to the dead letters, shows it, and replays it once the cause is fixed', async () => {
    // A gateway bug: its answers report another amount (webhooks are lost). A charge step whose
    // answer does not match the payment stops at once: dead-lettered, never applied.
    await system.control('alpha', { webhook_drop_rate: 1, answer_amount_skew: 1 });
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 800)).body;
    const letter = await waitFor(
      'the charge step in the dead letters',
      async () => {
        const list = await request(system.api.baseUrl, 'GET', '/admin/dead-letters', { headers: admin });
        return list.body.items.find((d: { payment_id: string }) => d.payment_id === paid.id);
      },
      20_000,
      200,
    );
    expect(letter).toMatchObject({ task: 'payment__charge_gateway', attempts: 1, replayed_at: null });
    expect(letter.last_error).toMatch(/GATEWAY_ANSWER_MISMATCH|amount 801 != 800/);
    expect(letter.payload).toMatchObject({ paymentId: paid.id });
    expect(new Date(letter.first_failed_at).getTime()).toBeLessThanOrEqual(
      new Date(letter.last_failed_at).getTime(),
    );
    const stuck = await payment(paid.id);
    expect(stuck.status).toBe('PROCESSING');
    const steps = stuck.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`);
    expect(steps).toContain('payment__charge_gateway:dead_lettered');
    expect((await walletState(system.database, walletId)).balance).toBe(200);

    const metrics = await (await fetch(`${system.api.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^dead_letter_jobs(\{[^}]*\})? [1-9]/m);

    await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
    const replay = await request(system.api.baseUrl, 'POST', `/admin/dead-letters/${letter.id}/replay`, {
      headers: admin,
    });
    expect(replay.status).toBe(202);
    const completed = await system.waitSettled(paid.id);
    expect(completed).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect((await walletState(system.database, walletId)).balance).toBe(200);

    const again = await request(system.api.baseUrl, 'POST', `/admin/dead-letters/${letter.id}/replay`, {
      headers: admin,
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('DEAD_LETTER_ALREADY_REPLAYED');
    expect(
      (await request(system.api.baseUrl, 'POST', '/admin/dead-letters/999999/replay', { headers: admin }))
        .status,
    ).toBe(404);
    expect(
      (await request(system.api.baseUrl, 'POST', '/admin/dead-letters/abc/replay', { headers: admin }))
        .status,
    ).toBe(404);
    expect((await request(system.api.baseUrl, 'GET', '/admin/dead-letters')).status).toBe(401);
  });

  it('closes a dead letter whose payment came to rest without it, and keeps one whose payment is still open', async () => {
    const walletId = await system.newWallet(1000);
    const done = (await system.pay(walletId, 100, { wait: 15 })).body;
    const other = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect([done.status, other.status]).toEqual(['COMPLETED', 'COMPLETED']);
    const db = system.database.pool;
    // Fixture: `other` stands for a payment still in flight (a letter an operator must see).
    await db.query(`update payments set status = 'PROCESSING' where id = $1`, [other.id]);
    for (const [jobId, paymentId] of [
      [900_001, done.id],
      [900_002, other.id],
    ])
      await db.query(
        `insert into dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
         values ($1, 'payment__charge_gateway', jsonb_build_object('paymentId', $2::text), 5, 'unknown', $2::uuid, now())`,
        [jobId, paymentId],
      );
    try {
      const { rows } = await db.query<{ n: number }>('select dead_letter__resolve_settled()::int as n');
      expect(rows[0]?.n).toBe(1);
      const after = await db.query<{ payment_id: string; resolution: string | null }>(
        `select payment_id, resolution from dead_letter_jobs where job_id in (900001, 900002) order by job_id`,
      );
      expect(after.rows).toEqual([
        { payment_id: done.id, resolution: 'payment COMPLETED without this job' },
        { payment_id: other.id, resolution: null },
      ]);
      const listed = await request(system.api.baseUrl, 'GET', '/admin/dead-letters', { headers: admin });
      const open = listed.body.items.map((d: { job_id: number }) => Number(d.job_id));
      expect(open).toContain(900_002);
      expect(open).not.toContain(900_001);
    } finally {
      await db.query(`update payments set status = 'COMPLETED' where id = $1`, [other.id]);
      await db.query('select dead_letter__resolve_settled()');
    }
  });

  it('drops a scheduled maintenance run that spent its attempts instead of dead-lettering it; a saga job still lands', async () => {
    const db = system.database.pool;
    const { rows } = await db.query<{ id: string; task: string }>(
      `select j.id::text, t.task from (values ('maintenance__audit'), ('payment__poll_charge')) t(task),
         lateral graphile_worker.add_job(t.task, json_build_object('paymentId', gen_random_uuid()::text),
                                         run_at := now() + interval '1 hour', max_attempts := 1) j`,
    );
    await db.query(`select graphile_worker.permanently_fail_jobs($1::bigint[], 'spent')`, [
      rows.map((r) => r.id),
    ]);
    const swept = await db.query<{ n: number }>('select dead_letter__sweep()::int as n');
    expect(swept.rows[0]?.n).toBe(1);
    const letters = await db.query<{ task: string }>(
      'select task from dead_letter_jobs where job_id = any($1::bigint[])',
      [rows.map((r) => r.id)],
    );
    expect(letters.rows).toEqual([{ task: 'payment__poll_charge' }]);
    const left = await db.query('select 1 from graphile_worker.jobs where id = any($1::bigint[])', [
      rows.map((r) => r.id),
    ]);
    expect(left.rowCount).toBe(0);
    await db.query('select dead_letter__resolve_settled()');
    await db.query(
      `update dead_letter_jobs set resolved_at = now(), resolution = 'test fixture' where job_id = any($1::bigint[])`,
      [rows.map((r) => r.id)],
    );
  });

  it('dead_letter__sweep moves a spent saga job with its error, payment and first failure; leaves a job with attempts left, one a worker still runs, and a letter already written', async () => {
    const db = system.database.pool;
    const paymentId = randomUUID();
    // Four saga jobs nobody runs for an hour (the worker cannot take them while the test looks).
    const { rows: jobs } = await db.query<{ task: string; id: string; created_at: Date }>(
      `select t.task, j.id::text, j.created_at from (values ('payment__poll_charge', 1), ('payment__debit_wallet', 3),
                ('payment__charge_gateway', 1), ('payment__fraud_check', 1)) t(task, max_attempts),
         lateral graphile_worker.add_job(t.task, json_build_object('paymentId', $1::text),
                                         run_at := now() + interval '1 hour', max_attempts := t.max_attempts) j`,
      [paymentId],
    );
    const id = Object.fromEntries(jobs.map((j) => [j.task, j.id]));
    const ids = jobs.map((j) => j.id);
    const spent = id.payment__poll_charge as string;
    const withAttemptsLeft = id.payment__debit_wallet as string;
    const running = id.payment__charge_gateway as string; // its worker is on its last attempt
    const lettered = id.payment__fraud_check as string; // the task wrapper wrote its letter, then died
    await db.query(
      `select graphile_worker.permanently_fail_jobs($1::bigint[], 'Error: the gateway said no')`,
      [[spent, running, lettered]],
    );
    // Only graphile-worker's runner locks jobs, as itself: staging another worker's lock needs the
    // private table.
    await db.query(
      `update graphile_worker._private_jobs set locked_at = now(), locked_by = 'a-live-worker' where id = $1`,
      [running],
    );
    await db.query(
      `insert into dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
       values ($1, 'payment__fraud_check', jsonb_build_object('paymentId', $2::text), 1, 'Error: written by the wrapper',
               $2::uuid, now())`,
      [lettered, paymentId],
    );
    try {
      await db.query('select dead_letter__sweep()');
      const letters = await db.query(
        `select job_id::text, task, attempts, last_error, payment_id, first_failed_at
           from dead_letter_jobs where job_id = any($1::bigint[]) order by job_id`,
        [ids],
      );
      expect(letters.rows).toEqual([
        {
          job_id: spent,
          task: 'payment__poll_charge',
          attempts: 1,
          last_error: 'Error: the gateway said no',
          payment_id: paymentId,
          first_failed_at: jobs.find((j) => j.id === spent)?.created_at,
        },
        {
          job_id: lettered,
          task: 'payment__fraud_check',
          attempts: 1,
          last_error: 'Error: written by the wrapper',
          payment_id: paymentId,
          first_failed_at: expect.any(Date),
        },
      ]);
      const queued = await db.query<{ id: string }>(
        'select id::text from graphile_worker.jobs where id = any($1::bigint[]) order by id',
        [ids],
      );
      expect(queued.rows.map((r) => r.id)).toEqual([withAttemptsLeft, running]);
    } finally {
      await db.query(`select graphile_worker.force_unlock_workers(array['a-live-worker'])`);
      await db.query('select graphile_worker.complete_jobs($1::bigint[])', [ids]);
      await db.query(
        `update dead_letter_jobs set resolved_at = now(), resolution = 'test fixture' where job_id = any($1::bigint[])`,
        [ids],
      );
    }
  });

  it('dead-letters a saga job whose payload fails its schema, after its attempts; the worker goes on and the payment it names is untouched', async () => {
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect(paid.status).toBe('COMPLETED');
    const before = { payment: await payment(paid.id), wallet: await walletState(system.database, walletId) };
    const db = system.database.pool;
    // An operator's psql typo: payment_id for paymentId.
    const { rows } = await db.query<{ id: string }>(
      `select id::text from graphile_worker.add_job('payment__debit_wallet', json_build_object('payment_id', $1::text),
                                                    max_attempts := 2)`,
      [paid.id],
    );
    const jobId = rows[0]?.id;
    const letter = await waitFor(
      'the job with the bad payload in the dead letters',
      async () =>
        (
          await db.query<{ task: string; attempts: number; last_error: string; payment_id: string | null }>(
            'select task, attempts, last_error, payment_id from dead_letter_jobs where job_id = $1',
            [jobId],
          )
        ).rows[0],
      20_000,
      200,
    );
    expect(letter).toMatchObject({ task: 'payment__debit_wallet', attempts: 2, payment_id: null });
    expect(letter.last_error).toMatch(/invalid payload for payment__debit_wallet/);
    // The wrapper commits the letter, then returns, and graphile-worker completes the job: a moment
    // later on a loaded machine.
    await waitFor(
      'the dead-lettered job to be completed',
      async () =>
        (await db.query('select 1 from graphile_worker.jobs where id = $1', [jobId])).rowCount === 0,
      10_000,
    );
    // The same worker process is still there and runs the next payment.
    expect(system.workers.map((w) => w.child.exitCode)).toEqual([null]);
    expect((await system.pay(walletId, 50, { wait: 15 })).body.status).toBe('COMPLETED');
    expect(await payment(paid.id)).toEqual(before.payment);
    expect((await walletState(system.database, walletId)).entries.slice(0, 2)).toEqual(before.wallet.entries);
    await db.query(
      `update dead_letter_jobs set resolved_at = now(), resolution = 'test fixture' where job_id = $1`,
      [jobId],
    );
  });

  it('a step that fails every attempt is dead-lettered with its cause; nothing is debited (the debit and the record of the first attempt are one transaction), no charge made; the product neither replays nor re-drives it; the operator replay completes it once', async () => {
    const db = system.database.pool;
    // The cause: every charge attempt of a 777 payment is refused by the database.
    await db.query(`create function test_refuse_777() returns trigger language plpgsql as $$
                    begin if new.amount = 777 then raise exception 'charge_attempts is read-only today'; end if;
                    return new; end $$`);
    await db.query(`create trigger test_refuse_777 before insert on charge_attempts
                    for each row execute function test_refuse_777()`);
    let fixed = false;
    const fix = async () => {
      if (fixed) return;
      fixed = true;
      await db.query('drop trigger test_refuse_777 on charge_attempts');
      await db.query('drop function test_refuse_777()');
    };
    try {
      const walletId = await system.newWallet(1000);
      const paid = (await system.pay(walletId, 777)).body;
      const letter = await waitFor(
        'the failing step in the dead letters',
        async () => {
          const list = await request(system.api.baseUrl, 'GET', '/admin/dead-letters', { headers: admin });
          return list.body.items.find((d: { payment_id: string }) => d.payment_id === paid.id);
        },
        20_000,
        200,
      );
      expect(letter).toMatchObject({ task: 'payment__fraud_check', attempts: 2, replayed_at: null });
      expect(letter.last_error).toContain('charge_attempts is read-only today');
      const stuck = await payment(paid.id);
      expect(stuck).toMatchObject({ status: 'PENDING', provider: null });
      expect(
        stuck.steps
          .filter((s: { name: string }) => s.name === 'payment__fraud_check')
          .map((s: { status: string }) => s.status),
      ).toEqual(['retrying', 'dead_lettered']);
      const held = await walletState(system.database, walletId);
      expect(held.entries.map((e) => `${e.type}:${e.amount}`)).toEqual(['DEPOSIT:1000']);
      expect(held.balance).toBe(1000);
      expect((await keptAtGateway(system.gatewayUrl, paid.id)).charges).toEqual([]);

      // What the sweep cron does on its own: a job that failed on its own is not auto-replayed, a
      // payment with an open letter is not re-driven, and the letter stays open while it is PENDING.
      await db.query('select dead_letter__replay_crash_spent(5, 3)');
      const redriven = await db.query("select payment_id from payment__redrive_stuck(interval '0 seconds')");
      await db.query('select dead_letter__resolve_settled()');
      expect(redriven.rows).not.toContainEqual({ payment_id: paid.id });
      const open = await db.query('select replayed_at, resolved_at from dead_letter_jobs where id = $1', [
        letter.id,
      ]);
      expect(open.rows).toEqual([{ replayed_at: null, resolved_at: null }]);

      await fix(); // the operator fixes the cause, then replays
      const replay = await request(system.api.baseUrl, 'POST', `/admin/dead-letters/${letter.id}/replay`, {
        headers: admin,
      });
      expect(replay.status).toBe(202);
      expect(await system.waitSettled(paid.id)).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
      const after = await walletState(system.database, walletId);
      expect(after.entries.map((e) => `${e.type}:${e.amount}`)).toEqual([
        'DEPOSIT:1000',
        'PAYMENT_DEBIT:-777',
      ]);
      expect((await keptAtGateway(system.gatewayUrl, paid.id)).kept).toBe(777);
      expect(await auditIsClean(system.database)).toBe(true);
    } finally {
      await fix();
    }
  });

  it('replays a saga job whose every attempt was cut short by a crash, three times at most; one that failed on its own stays', async () => {
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect(paid.status).toBe('COMPLETED');
    const db = system.database.pool;
    // Each crashed job as tracing enqueues it: the same payment and task, a traceparent of its own.
    const letter = (jobId: number, lastError: string) =>
      db.query(
        `insert into dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
         values ($1, 'payment__poll_charge',
                 jsonb_build_object('paymentId', $2::text,
                   'traceparent', '00-' || md5($1::bigint::text) || '-' || left(md5($1::bigint::text || 'span'), 16) || '-01'),
                 5, $3, $2::uuid, now())`,
        [jobId, paid.id, lastError],
      );
    const replay = async () =>
      (await db.query<{ n: number }>('select dead_letter__replay_crash_spent(5, 3) as n')).rows[0]?.n;
    await letter(910_001, 'unknown');
    await letter(910_002, 'Error: the gateway said no');
    expect(await replay()).toBe(1);
    for (const jobId of [910_003, 910_004]) {
      await letter(jobId, 'unknown');
      expect(await replay()).toBe(1);
    }
    // A fourth crash of the same job: a poison job, left for an operator.
    await letter(910_005, 'unknown');
    expect(await replay()).toBe(0);
    const { rows } = await db.query<{ job_id: string; replayed_by: string | null }>(
      'select job_id::text, replayed_by from dead_letter_jobs where job_id between 910001 and 910005 order by job_id',
    );
    expect(rows.map((r) => r.replayed_by)).toEqual(['product', null, 'product', 'product', null]);
    // The replayed poll ran on a COMPLETED payment and changed nothing.
    await waitFor('the replayed jobs to finish', async () => {
      const left = await db.query(`select 1 from graphile_worker.jobs where key = $1`, [
        `payment__poll_charge:${paid.id}`,
      ]);
      return left.rowCount === 0;
    });
    expect((await payment(paid.id)).status).toBe('COMPLETED');
    await db.query(
      `update dead_letter_jobs set resolved_at = now(), resolution = 'test fixture'
        where job_id between 910001 and 910005 and replayed_at is null`,
    );
  });
});
