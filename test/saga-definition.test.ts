import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentStatus, SagaStep } from '../app/db/types.ts';
import { CHANGEABLE_COLUMNS, changePayment, isSettled } from '../app/payments/payment.aggregate.ts';
import type { PaymentRow } from '../app/payments/payment.repository.ts';
import { PAYMENT_SAGA, stepJobKey, type WaitingStep } from '../app/payments/saga-definition.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makePayment, makeWallet } from './helpers/factories.ts';

/**
 * The saga's lists that SQL keeps too, checked against their one TypeScript owner by behaviour:
 * the stuck-saga redrive's step -> task, the columns payment__change may set, and the statuses in
 * which it counts a payment settled.
 */
let database: TestDatabase;
const _opts = {
  jobMaxAttempts: 5,
  webhookDeadlineSeconds: 10,
  unknownRetryMaxSeconds: 60,
  chargeBackstopSeconds: 30,
};

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

async function newPayment(): Promise<PaymentRow> {
  const wallet = await makeWallet(database, { balance: 1000 });
  const payment = await makePayment(database, wallet.id);
  // Only what this test enqueues is looked at: the request's own job goes.
  await sql`select graphile_worker.remove_job(${stepJobKey('requested', payment.id)})`.execute(database.db);
  return payment;
}

describe('the stuck-saga redrive (payment__redrive_stuck.sql)', () => {
  for (const step of Object.keys(PAYMENT_SAGA) as WaitingStep[]) {
    it(`re-drives a payment stuck at ${step} with PAYMENT_SAGA's task and job key`, async () => {
      const payment = await newPayment();
      await sql`update payments set saga_step = ${step},
                  status = ${step === 'requested' || step === 'fraud_checked' ? 'PENDING' : 'PROCESSING'},
                  updated_at = now() - interval '1 hour' where id = ${payment.id}`.execute(database.db);
      const { rows } = await sql<{ payment_id: string; task: string }>`
        select * from payment__redrive_stuck(interval '5 minutes') where payment_id = ${payment.id}`.execute(
        database.db,
      );
      expect(rows).toEqual([{ payment_id: payment.id, task: PAYMENT_SAGA[step].task }]);
      const jobs = await sql<{ task_identifier: string; key: string }>`
        select task_identifier, key from graphile_worker.jobs where key like ${`%:${payment.id}`}`.execute(
        database.db,
      );
      expect(jobs.rows).toEqual([
        {
          task_identifier: PAYMENT_SAGA[step].task,
          key: stepJobKey(step, payment.id),
        },
      ]);
    });
  }

  it('leaves a settled payment alone, whatever its age', async () => {
    const payment = await newPayment();
    const settled: SagaStep[] = ['completed', 'rejected', 'failed'];
    for (const step of settled) {
      await sql`update payments set saga_step = ${step}, status = 'PENDING', updated_at = now() - interval '1 hour'
                 where id = ${payment.id}`.execute(database.db);
      const { rows } = await sql`select * from payment__redrive_stuck(interval '5 minutes')
                                  where payment_id = ${payment.id}`.execute(database.db);
      expect(rows).toEqual([]);
    }
  });
});

describe('payment__change', () => {
  it('sets every column of CHANGEABLE_COLUMNS, and refuses any other', async () => {
    const payment = await newPayment();
    const values = {
      saga_step: 'debited',
      status: 'PROCESSING',
      failure_reason: null,
      provider: 'beta',
      refunded_amount: 0,
      refund_reserved: 5,
    } as const;
    expect(Object.keys(values).sort()).toEqual([...CHANGEABLE_COLUMNS].sort());
    const changed = await database.db.transaction().execute((trx) => changePayment(trx, payment, [], values));
    for (const column of CHANGEABLE_COLUMNS) expect(changed[column]).toEqual(values[column]);
    for (const column of ['amount', 'wallet_id', 'owner_id', 'version', 'completed_at', 'trace_id']) {
      await expect(
        database.db
          .transaction()
          .execute((trx) => changePayment(trx, changed, [], { [column]: null } as never)),
      ).rejects.toThrow(`payment__change cannot set column ${column}`);
    }
  });

  it('counts a payment settled (completed_at, NOTIFY) exactly in the statuses isSettled names', async () => {
    const statuses: PaymentStatus[] = [
      'PENDING',
      'PROCESSING',
      'COMPLETED',
      'REJECTED',
      'FAILED',
      'PARTIALLY_REFUNDED',
      'REFUNDED',
    ];
    for (const status of statuses) {
      const payment = await newPayment();
      const failure_reason = status === 'REJECTED' || status === 'FAILED' ? 'GATEWAY_DECLINED' : null;
      const changed = await database.db
        .transaction()
        .execute((trx) => changePayment(trx, payment, [], { status, failure_reason }));
      expect({ status, settled: changed.completed_at !== null }).toEqual({
        status,
        settled: isSettled(status),
      });
    }
  });
});
