import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trx } from '../app/db/database.ts';
import { recordEvent } from '../app/events/record-event.ts';
import { changePayment } from '../app/payments/payment.aggregate.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makePayment, makeWallet } from './helpers/factories.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const jobsFor = async (task: string) =>
  Number(
    (
      await sql<{
        n: number;
      }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = ${task}`.execute(
        database.db,
      )
    ).rows[0]?.n,
  );
const eventsOf = (aggregateId: string) =>
  database.db
    .selectFrom('events')
    .selectAll()
    .where('aggregate_id', '=', aggregateId)
    .orderBy('version')
    .execute();
const outboxOf = (aggregateId: string) =>
  database.db.selectFrom('outbox').selectAll().where('key', '=', aggregateId).orderBy('id').execute();

describe('the one write path', () => {
  it('commits the event, its outbox envelope and the next job together', async () => {
    const wallet = await makeWallet(database);
    await database.db.transaction().execute((trx) =>
      recordEvent(trx, {
        type: 'wallet.deposited',
        aggregateId: wallet.id,
        expectedVersion: 1,
        data: { entry_id: randomUUID(), amount: 500, currency: 'USD', balance_after: 500, reference: null },
        traceId: 'trace-commit',
        next: { task: 'test__commit_job', payload: { walletId: wallet.id }, jobKey: `commit:${wallet.id}` },
      }),
    );

    const events = await eventsOf(wallet.id);
    expect(events.map((e) => [e.version, e.event_type])).toEqual([
      [1, 'wallet.created'],
      [2, 'wallet.deposited'],
    ]);
    const outbox = await outboxOf(wallet.id);
    expect(outbox).toHaveLength(2);
    const row = outbox[1];
    expect(row?.topic).toBe('wallets.events');
    expect(row?.headers).toEqual({
      event_id: events[1]?.event_id,
      event_type: 'wallet.deposited',
      trace_id: 'trace-commit',
    });
    expect(row?.payload).toMatchObject({
      event_id: events[1]?.event_id,
      event_type: 'wallet.deposited',
      aggregate_type: 'wallet',
      aggregate_id: wallet.id,
      version: 2,
      trace_id: 'trace-commit',
      data: { amount: 500, balance_after: 500, currency: 'USD', reference: null },
    });
    expect((row?.payload as { occurred_at?: string } | undefined)?.occurred_at).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
    );
    expect(await jobsFor('test__commit_job')).toBe(1);
  });

  it('leaves no event, no outbox row and no job when the transaction rolls back', async () => {
    const wallet = await makeWallet(database);
    const before = { events: (await eventsOf(wallet.id)).length, outbox: (await outboxOf(wallet.id)).length };
    await expect(
      database.db.transaction().execute(async (trx) => {
        await recordEvent(trx, {
          type: 'wallet.deposited',
          aggregateId: wallet.id,
          expectedVersion: 1,
          data: { entry_id: randomUUID(), amount: 1, currency: 'USD', balance_after: 1, reference: null },
          traceId: 'trace-rollback',
          next: { task: 'test__rollback_job', payload: {} },
        });
        // Inside the transaction everything is there...
        expect(await jobsForTrx(trx, 'test__rollback_job')).toBe(1);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    // ...and after the rollback none of it.
    expect((await eventsOf(wallet.id)).length).toBe(before.events);
    expect((await outboxOf(wallet.id)).length).toBe(before.outbox);
    expect(await jobsFor('test__rollback_job')).toBe(0);
  });

  it('refuses a stale expected version with SQLSTATE WP001 and writes nothing', async () => {
    const wallet = await makeWallet(database);
    const attempt = (expectedVersion: number) =>
      database.db.transaction().execute((trx) =>
        recordEvent(trx, {
          type: 'wallet.deposited',
          aggregateId: wallet.id,
          expectedVersion,
          data: { entry_id: randomUUID(), amount: 1, currency: 'USD', balance_after: 1, reference: null },
          traceId: 't',
        }),
      );
    await expect(attempt(0)).rejects.toMatchObject({ code: 'WP001' });
    await expect(attempt(5)).rejects.toMatchObject({ code: 'WP001' });
    expect((await eventsOf(wallet.id)).map((e) => e.version)).toEqual([1]);
  });

  it('lets exactly one of two concurrent writers append the same version', async () => {
    const wallet = await makeWallet(database);
    const results = await Promise.allSettled(
      [1, 2].map(() =>
        database.db.transaction().execute(async (trx) => {
          const event = await recordEvent(trx, {
            type: 'wallet.deposited',
            aggregateId: wallet.id,
            expectedVersion: 1,
            data: { entry_id: randomUUID(), amount: 1, currency: 'USD', balance_after: 1, reference: null },
            traceId: 't',
          });
          await sql`select pg_sleep(0.2)`.execute(trx); // hold the insert so the other one collides
          return event;
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(['23505', 'WP001']).toContain(rejected.reason.code);
    expect((await eventsOf(wallet.id)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('refuses event data that does not match the catalogue before touching the database', async () => {
    const wallet = await makeWallet(database);
    await expect(
      database.db.transaction().execute((trx) =>
        recordEvent(trx, {
          type: 'wallet.deposited',
          aggregateId: wallet.id,
          expectedVersion: 1,
          // a float amount is not money: the catalogue refuses it
          data: { entry_id: randomUUID(), amount: 1.5, currency: 'USD', balance_after: 1, reference: null },
          traceId: 't',
        }),
      ),
    ).rejects.toThrow(/amount/);
    expect((await eventsOf(wallet.id)).length).toBe(1);
  });

  it('keeps events and ledger append-only and outbox deletes for retention only', async () => {
    const wallet = await makeWallet(database, { balance: 100 });
    await expect(
      sql`update events set trace_id = 'x' where aggregate_id = ${wallet.id}`.execute(database.db),
    ).rejects.toMatchObject({ code: 'WP002' });
    await expect(
      sql`delete from events where aggregate_id = ${wallet.id}`.execute(database.db),
    ).rejects.toMatchObject({ code: 'WP002' });
    await expect(sql`update ledger_entries set amount = 1`.execute(database.db)).rejects.toMatchObject({
      code: 'WP002',
    });
    await expect(sql`delete from ledger_entries`.execute(database.db)).rejects.toMatchObject({
      code: 'WP002',
    });
    await expect(sql`update outbox set topic = 'payments.events'`.execute(database.db)).rejects.toMatchObject(
      { code: 'WP002' },
    );
    await expect(sql`delete from outbox where key = ${wallet.id}`.execute(database.db)).rejects.toMatchObject(
      { code: 'WP002' },
    );
    const pruned = await database.db.transaction().execute(async (trx) => {
      await sql`set local app.outbox_prune = 'on'`.execute(trx);
      return sql`delete from outbox where key = ${wallet.id}`.execute(trx);
    });
    expect(Number(pruned.numAffectedRows)).toBe(2);
    expect((await eventsOf(wallet.id)).length).toBe(2);
  });

  it('refuses a balance below zero at the schema level', async () => {
    const wallet = await makeWallet(database, { balance: 10 });
    await expect(
      sql`update wallets set balance = -1 where id = ${wallet.id}`.execute(database.db),
    ).rejects.toMatchObject({
      code: '23514',
      constraint: 'wallet_balance_non_negative',
    });
  });
});

describe('a payment transition (payment__change)', () => {
  const newPayment = async () =>
    makePayment(database, (await makeWallet(database, { balance: 1000 })).id, { traceId: 'trace-change' });

  const stepsOf = async (paymentId: string) =>
    (
      await database.db
        .selectFrom('payment_steps')
        .select(['name', 'status'])
        .where('payment_id', '=', paymentId)
        .orderBy('id')
        .execute()
    ).map((s) => `${s.name}:${s.status}`);

  it('appends the events, records the steps and updates the row in one call', async () => {
    const payment = await newPayment();
    const decision = { approved: true, score: 0, reasons: [] };
    const changed = await database.db
      .transaction()
      .execute((trx) =>
        changePayment(
          trx,
          payment,
          [{ type: 'payment.fraud_checked', data: decision }],
          { saga_step: 'fraud_checked' },
          [{ name: 'fraud_check', status: 'approved', detail: { score: 0 } }],
        ),
      );
    expect(changed).toMatchObject({
      id: payment.id,
      version: 2,
      saga_step: 'fraud_checked',
      status: 'PENDING',
    });
    expect((await eventsOf(payment.id)).map((e) => [e.version, e.event_type])).toEqual([
      [1, 'payment.requested'],
      [2, 'payment.fraud_checked'],
    ]);
    expect((await outboxOf(payment.id)).map((o) => o.event_type)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
    ]);
    expect(await stepsOf(payment.id)).toEqual(['request:accepted', 'fraud_check:approved']);
  });

  it('refuses a stale version (WP001) and leaves no step, event or change behind', async () => {
    const payment = await newPayment();
    await expect(
      database.db
        .transaction()
        .execute((trx) =>
          changePayment(
            trx,
            { ...payment, version: 0 },
            [{ type: 'payment.rejected', data: { reason: 'FRAUD_SUSPECTED' } }],
            { saga_step: 'rejected', status: 'REJECTED', failure_reason: 'FRAUD_SUSPECTED' },
            [{ name: 'fraud_check', status: 'declined' }],
          ),
        ),
    ).rejects.toMatchObject({ code: 'WP001' });
    expect((await eventsOf(payment.id)).map((e) => e.event_type)).toEqual(['payment.requested']);
    expect(await stepsOf(payment.id)).toEqual(['request:accepted']);
    const row = await database.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', payment.id)
      .executeTakeFirst();
    expect(row).toMatchObject({ version: 1, saga_step: 'requested', status: 'PENDING' });
  });

  it('refuses to set a column outside its list (amount) and changes nothing', async () => {
    const payment = await newPayment();
    await expect(
      sql`select * from payment__change(${payment.id}::uuid, 1, '[]'::jsonb, '{"amount": 1}'::jsonb)`.execute(
        database.db,
      ),
    ).rejects.toMatchObject({ code: '22023' });
    const row = await database.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', payment.id)
      .executeTakeFirst();
    expect(row).toMatchObject({ amount: 100, version: 1 });
  });
});

async function jobsForTrx(trx: Trx, task: string) {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = ${task}`.execute(trx);
  return rows[0]?.n;
}
