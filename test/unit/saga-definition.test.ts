import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import type { PaymentStatus } from '../../app/db/types.ts';
import {
  type ChargeAttempt,
  checkChargeMatches,
  GatewayAnswerMismatch,
  isFinal,
  keptCharge,
} from '../../app/payments/charge-attempts.ts';
import { isSettled } from '../../app/payments/payment.aggregate.ts';
import type { PaymentRow } from '../../app/payments/payment.repository.ts';
import {
  PAYMENT_SAGA,
  refundJob,
  SAGA_TASKS,
  sagaOptionsFrom,
  stepJob,
  stepJobKey,
  strayRefundJob,
} from '../../app/payments/saga-definition.ts';

const paymentId = '0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
const opts = {
  jobMaxAttempts: 7,
  webhookDeadlineSeconds: 10,
  unknownRetryMaxSeconds: 60,
  chargeBackstopSeconds: 30,
};
const attemptOf = (fields: Partial<ChargeAttempt>) => fields as ChargeAttempt;

describe('saga jobs', () => {
  it('key a step by task and payment, so a step enqueued twice runs once', () => {
    const job = stepJob('fraud_checked', paymentId, opts);
    expect(job).toEqual({
      task: 'payment__debit_wallet',
      payload: { paymentId },
      jobKey: `payment__debit_wallet:${paymentId}`,
      maxAttempts: 7,
      delaySeconds: undefined,
    });
  });

  it('key side jobs by what they settle: a refund by its refund, a stray refund by its attempt', () => {
    const refundId = '5d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2d';
    expect(refundJob(paymentId, refundId, opts)).toEqual({
      task: 'payment__refund',
      payload: { paymentId, refundId },
      jobKey: `payment__refund:${refundId}`,
      maxAttempts: 7,
      delaySeconds: undefined,
    });
    expect(strayRefundJob(paymentId, 3, opts, 60)).toEqual({
      task: 'payment__refund_stray_charge',
      payload: { paymentId, attemptId: 3 },
      jobKey: 'payment__refund_stray_charge:3',
      maxAttempts: 7,
      delaySeconds: 60,
    });
  });

  it('share one poll key per payment, so the completion can remove the pending poll', () => {
    expect(stepJobKey('charge_requested', paymentId)).toBe(`payment__poll_charge:${paymentId}`);
    expect(stepJob('charge_requested', paymentId, opts, 10).jobKey).toBe(
      stepJobKey('charge_requested', paymentId),
    );
  });

  it('lead from each waiting step only to later steps, ending at a settled one', () => {
    const order = [
      'requested',
      'fraud_checked',
      'debited',
      'charge_requested',
      'completed',
      'rejected',
      'failed',
    ];
    for (const [step, def] of Object.entries(PAYMENT_SAGA)) {
      for (const next of def.next) expect(order.indexOf(next)).toBeGreaterThan(order.indexOf(step));
      // A step that continues in the same job goes on to a step that has a task of its own.
      if (def.continues) expect(Object.keys(PAYMENT_SAGA)).toContain(def.next[0]);
    }
  });

  it('name every task once, derived from the saga table', () => {
    expect(SAGA_TASKS).toEqual({
      fraudCheck: 'payment__fraud_check',
      debitWallet: 'payment__debit_wallet',
      chargeGateway: 'payment__charge_gateway',
      pollCharge: 'payment__poll_charge',
      refund: 'payment__refund',
      refundStrayCharge: 'payment__refund_stray_charge',
    });
    expect(new Set(Object.values(SAGA_TASKS)).size).toBe(6);
  });

  it('take their options from the configuration', () => {
    const config = loadConfig({
      JOB_MAX_ATTEMPTS: '9',
      WEBHOOK_DEADLINE_SECONDS: '11',
      GATEWAY_UNKNOWN_RETRY_MAX_SECONDS: '12',
      GATEWAY_MAX_ATTEMPTS: '3',
      GATEWAY_ATTEMPT_TIMEOUT_MS: '2000',
      GATEWAY_BACKOFF_MAX_MS: '1500',
    });
    expect(sagaOptionsFrom(config)).toEqual({
      jobMaxAttempts: 9,
      webhookDeadlineSeconds: 11,
      unknownRetryMaxSeconds: 12,
      // Alpha then beta, 3 calls each timing out after 2 s with up to 1.5 s between: 21 s, plus 5.
      chargeBackstopSeconds: 26,
    });
  });
});

describe('payment statuses', () => {
  it('count COMPLETED, REJECTED and FAILED as settled, and nothing else', () => {
    const all: PaymentStatus[] = [
      'PENDING',
      'PROCESSING',
      'COMPLETED',
      'REJECTED',
      'FAILED',
      'REFUNDED',
      'PARTIALLY_REFUNDED',
    ];
    expect(all.filter(isSettled)).toEqual(['COMPLETED', 'REJECTED', 'FAILED']);
  });
});

describe('charge attempts', () => {
  it('are final once succeeded, failed or canceled, and open while unknown, not created or pending', () => {
    const statuses = ['unknown', 'not_created', 'pending', 'succeeded', 'failed', 'canceled'] as const;
    expect(statuses.filter((status) => isFinal(attemptOf({ status })))).toEqual([
      'succeeded',
      'failed',
      'canceled',
    ]);
  });

  it('keep, for a completed payment, our succeeded attempt at its provider only', () => {
    const ours = attemptOf({ idempotency_key: 'k', provider: 'beta', status: 'succeeded' });
    const foreign = attemptOf({ idempotency_key: null, provider: 'beta', status: 'succeeded' });
    const elsewhere = attemptOf({ idempotency_key: 'k', provider: 'alpha', status: 'succeeded' });
    const failed = attemptOf({ idempotency_key: 'k', provider: 'beta', status: 'failed' });
    expect(keptCharge({ provider: 'beta' }, [foreign, elsewhere, failed, ours])).toBe(ours);
    expect(keptCharge({ provider: 'beta' }, [foreign, elsewhere, failed])).toBeUndefined();
  });
});

describe('a gateway answer about a charge', () => {
  const payment = { id: paymentId, amount: 500, currency: 'USD' } as PaymentRow;
  const charge = {
    id: 'ch_1',
    status: 'succeeded' as const,
    amount: 500,
    currency: 'USD',
    reference: paymentId,
  };
  const differencesOf = (run: () => void) => {
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayAnswerMismatch);
      return (err as GatewayAnswerMismatch).differences;
    }
    throw new Error('expected GatewayAnswerMismatch');
  };

  it('is taken when amount, currency and reference are the payment, and the id the one asked about', () => {
    expect(() => checkChargeMatches(payment, 'alpha', charge)).not.toThrow();
    expect(() => checkChargeMatches(payment, 'alpha', charge, 'ch_1')).not.toThrow();
  });

  it('is refused, naming each difference, when the amount, currency, reference or id differs', () => {
    expect(differencesOf(() => checkChargeMatches(payment, 'alpha', { ...charge, amount: 501 }))).toEqual([
      'amount 501 != 500',
    ]);
    expect(differencesOf(() => checkChargeMatches(payment, 'alpha', { ...charge, currency: 'EUR' }))).toEqual(
      ['currency EUR != USD'],
    );
    expect(
      differencesOf(() => checkChargeMatches(payment, 'alpha', { ...charge, reference: 'other' })),
    ).toEqual([`reference other != ${paymentId}`]);
    expect(differencesOf(() => checkChargeMatches(payment, 'alpha', charge, 'ch_2'))).toEqual([
      'charge ch_1 != ch_2',
    ]);
  });

  it('is refused when it leaves the amount out, and carries provider and payment as a 422', () => {
    const { amount: _, ...noAmount } = charge;
    const run = () => checkChargeMatches(payment, 'beta', noAmount);
    expect(differencesOf(run)).toEqual(['amount undefined != 500']);
    expect(run).toThrow(
      expect.objectContaining({ status: 422, code: 'GATEWAY_ANSWER_MISMATCH', provider: 'beta', paymentId }),
    );
  });
});
