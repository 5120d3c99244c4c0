import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { FailureReason, Provider } from '../db/types.ts';
import { enqueueJob } from '../events/record-event.ts';
import { moveWalletMoney } from '../wallets/wallet.money.ts';
import type { FraudDecision } from './fraud.ts';
import { changePayment, type PaymentEvent, type PaymentStep } from './payment.aggregate.ts';
import type { PaymentChargeRow, PaymentRow } from './payment.repository.ts';
import { pollJobKey, SAGA_TASKS, type SagaOptions, sagaJob } from './saga-jobs.ts';

/**
 * The saga's transitions. Each runs on `trx`, which holds the payment's row lock, and is called
 * only when `payment.saga_step` is the step it follows (the caller checks, so a job delivered twice
 * acts once). Business outcomes (declines, insufficient funds) are state, not exceptions.
 */

export async function applyFraudDecision(
  trx: Trx,
  payment: PaymentRow,
  decision: FraudDecision,
  opts: SagaOptions,
) {
  const step: PaymentStep = {
    name: 'fraud_check',
    status: decision.approved ? 'approved' : 'declined',
    detail: { score: decision.score, reasons: decision.reasons },
  };
  const checked: PaymentEvent = { type: 'payment.fraud_checked', data: decision };
  if (decision.approved) {
    return changePayment(
      trx,
      payment,
      [{ ...checked, next: sagaJob(SAGA_TASKS.debitWallet, payment.id, opts) }],
      { saga_step: 'fraud_checked' },
      [step],
    );
  }
  return reject(trx, payment, 'FRAUD_SUSPECTED', [checked], [step]);
}

/** Debits the wallet (row lock inside), or rejects the payment when the balance is short. */
export async function debitWalletForPayment(trx: Trx, payment: PaymentRow, opts: SagaOptions) {
  const moved = await moveWalletMoney(
    trx,
    paymentMovement(payment, 'PAYMENT_DEBIT', 'wallet.debited', 'debit'),
  );
  if (!moved.ok) {
    const declined = { name: 'wallet_debit', status: 'declined', detail: { reason: moved.reason } };
    return { payment: await reject(trx, payment, 'INSUFFICIENT_FUNDS', [], [declined]), debited: false };
  }
  const updated = await changePayment(trx, payment, [], { saga_step: 'debited', status: 'PROCESSING' }, [
    { name: 'wallet_debit', status: 'succeeded', detail: { balance_after: moved.entry.balance_after } },
  ]);
  // The charge step has no event of its own to ride on: enqueue it here, in the same transaction.
  await enqueueJob(trx, sagaJob(SAGA_TASKS.chargeGateway, payment.id, opts));
  return { payment: updated, debited: true };
}

/** The gateway accepted the charge: record it, and schedule the status poll for the deadline. */
export async function recordChargeRequested(
  trx: Trx,
  payment: PaymentRow,
  charge: { provider: Provider; chargeId: string; attempt: number },
  opts: SagaOptions,
) {
  await trx
    .insertInto('payment_charges')
    .values({
      payment_id: payment.id,
      provider: charge.provider,
      gateway_charge_id: charge.chargeId,
      status: 'pending',
    })
    .onConflict((oc) => oc.columns(['payment_id', 'provider']).doNothing())
    .execute();
  const runAt = new Date(Date.now() + opts.webhookDeadlineSeconds * 1000);
  return changePayment(
    trx,
    payment,
    [
      {
        type: 'payment.charge_requested',
        data: {
          provider: charge.provider,
          charge_id: charge.chargeId,
          amount: payment.amount,
          currency: payment.currency,
        },
        next: sagaJob(SAGA_TASKS.pollCharge, payment.id, opts, { runAt, key: pollJobKey(payment.id) }),
      },
    ],
    { saga_step: 'charge_requested', provider: charge.provider },
    [
      {
        name: 'gateway_charge',
        status: 'requested',
        attempt: charge.attempt,
        detail: { provider: charge.provider, charge_id: charge.chargeId },
      },
    ],
  );
}

/** Every provider refused or could not be reached: the charge failed for good. */
export async function failUnavailable(
  trx: Trx,
  payment: PaymentRow,
  failures: Array<{ provider: Provider; error: string }>,
) {
  const events: PaymentEvent[] = failures.map((f) => ({
    type: 'payment.charge_failed',
    data: {
      provider: f.provider,
      charge_id: null,
      outcome: 'unavailable',
      decline_code: null,
      error: f.error,
    },
  }));
  return compensate(trx, payment, 'GATEWAY_UNAVAILABLE', [], events);
}

/**
 * The gateway's answer for a charge, from a webhook or a poll. Completes the payment, or
 * compensates it on a decline. Also cancels the pending status poll.
 */
export async function applyChargeOutcome(
  trx: Trx,
  payment: PaymentRow,
  charge: PaymentChargeRow,
  outcome: { status: 'succeeded' } | { status: 'failed'; declineCode: string | null },
  source: 'webhook' | 'poll',
) {
  await trx
    .updateTable('payment_charges')
    .set({
      status: outcome.status,
      decline_code: outcome.status === 'failed' ? outcome.declineCode : null,
      updated_at: sql<Date>`now()`,
    })
    .where('payment_id', '=', charge.payment_id)
    .where('provider', '=', charge.provider)
    .execute();
  await sql`select graphile_worker.remove_job(${pollJobKey(payment.id)})`.execute(trx);
  const result: PaymentStep = {
    name: 'gateway_result',
    status: outcome.status,
    detail: {
      provider: charge.provider,
      source,
      ...(outcome.status === 'failed' ? { decline_code: outcome.declineCode } : {}),
    },
  };
  if (outcome.status === 'succeeded') {
    return changePayment(
      trx,
      payment,
      [
        {
          type: 'payment.charge_succeeded',
          data: { provider: charge.provider, charge_id: charge.gateway_charge_id, source },
        },
        {
          type: 'payment.completed',
          data: { provider: charge.provider, amount: payment.amount, currency: payment.currency },
        },
      ],
      { saga_step: 'completed', status: 'COMPLETED', completed_at: new Date() },
      [result],
    );
  }
  return compensate(
    trx,
    payment,
    'GATEWAY_DECLINED',
    [result],
    [
      {
        type: 'payment.charge_failed',
        data: {
          provider: charge.provider,
          charge_id: charge.gateway_charge_id,
          outcome: 'declined',
          decline_code: outcome.declineCode,
          error: null,
        },
      },
    ],
  );
}

/** No money moved: the payment ends REJECTED. */
async function reject(
  trx: Trx,
  payment: PaymentRow,
  reason: FailureReason,
  before: PaymentEvent[],
  steps: PaymentStep[],
) {
  return changePayment(
    trx,
    payment,
    [...before, { type: 'payment.rejected', data: { reason } }],
    { saga_step: 'rejected', status: 'REJECTED', failure_reason: reason, completed_at: new Date() },
    steps,
  );
}

/** The compensating path: a PAYMENT_REVERSAL restores the debit, the payment ends FAILED. */
async function compensate(
  trx: Trx,
  payment: PaymentRow,
  reason: FailureReason,
  stepsBefore: PaymentStep[],
  before: PaymentEvent[],
) {
  const reversed = await moveWalletMoney(
    trx,
    paymentMovement(payment, 'PAYMENT_REVERSAL', 'wallet.debit_reversed', 'reversal'),
  );
  if (!reversed.ok) throw new Error('a reversal cannot be refused for funds');
  return changePayment(
    trx,
    payment,
    [...before, { type: 'payment.failed', data: { reason, refunded_to_wallet: payment.amount } }],
    { saga_step: 'failed', status: 'FAILED', failure_reason: reason, completed_at: new Date() },
    [...stepsBefore, { name: 'compensation', status: 'succeeded', detail: { reason } }],
  );
}

/** The wallet side of a payment: its debit, or the reversal that undoes it. */
function paymentMovement(
  payment: PaymentRow,
  entryType: 'PAYMENT_DEBIT' | 'PAYMENT_REVERSAL',
  eventType: 'wallet.debited' | 'wallet.debit_reversed',
  step: 'debit' | 'reversal',
) {
  return {
    walletId: payment.wallet_id,
    entryType,
    amount: payment.amount,
    paymentId: payment.id,
    sourceRef: `payment:${payment.id}:${step}`,
    reference: payment.service_id,
    traceId: payment.trace_id,
    eventType,
    eventData: ({
      entryId,
      balanceAfter,
      currency,
    }: {
      entryId: string;
      balanceAfter: number;
      currency: string;
    }) => ({
      entry_id: entryId,
      payment_id: payment.id,
      amount: payment.amount,
      currency,
      balance_after: balanceAfter,
    }),
  };
}
