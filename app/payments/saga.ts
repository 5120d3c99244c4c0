import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { FailureReason, Provider } from '../db/types.ts';
import { enqueueJob } from '../events/record-event.ts';
import { moveWalletMoney } from '../wallets/wallet.money.ts';
import { type ChargeSource, listAttempts, markStray } from './charge-attempts.ts';
import type { FraudDecision } from './fraud-rules.ts';
import { decideGatewayStep } from './gateway-decision.ts';
import { changePayment, type PaymentEvent, type PaymentStep } from './payment.aggregate.ts';
import type { PaymentRow } from './payment.repository.ts';
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

/**
 * Carries out the gateway part of the saga. The charge step, the status poll, webhooks and the
 * reconciliation all record what they learned about an attempt (app/payments/charge-attempts.ts)
 * and then call this, on `trx` holding the payment's lock, with the events those records implied.
 * decideGatewayStep (gateway-decision.ts) takes the next transition from the payment's attempts.
 * Returns the payment, whether it settled now, and the provider to attempt next, if any.
 */
export async function advancePayment(
  trx: Trx,
  payment: PaymentRow,
  events: PaymentEvent[],
  steps: PaymentStep[],
  source: ChargeSource,
  opts: SagaOptions,
): Promise<{ payment: PaymentRow; settled: boolean; tryProvider?: Provider }> {
  const attempts = await listAttempts(trx, payment.id);
  const { strays, next } = decideGatewayStep(payment, attempts, opts.unknownRetryMaxSeconds);

  const all = [...events];
  for (const attempt of strays) {
    const detected = await markStray(trx, attempt, source);
    for (const event of detected) {
      all.push({
        ...event,
        next: sagaJob(SAGA_TASKS.refundStrayCharge, payment.id, opts, {
          payload: { attemptId: attempt.id },
          key: `${SAGA_TASKS.refundStrayCharge}:${attempt.id}`,
        }),
      } as PaymentEvent);
    }
  }
  const recorded = async () =>
    all.length > 0 || steps.length > 0 ? await changePayment(trx, payment, all, {}, steps) : payment;

  switch (next.kind) {
    case 'record':
      return { payment: await recorded(), settled: false };
    case 'complete': {
      const { winner } = next;
      await sql`select graphile_worker.remove_job(${pollJobKey(payment.id)})`.execute(trx);
      const completed = await changePayment(
        trx,
        payment,
        [
          ...all,
          {
            type: 'payment.completed',
            data: { provider: winner.provider, amount: payment.amount, currency: payment.currency },
          },
        ],
        { saga_step: 'completed', status: 'COMPLETED', provider: winner.provider },
        [
          ...steps,
          { name: 'gateway_result', status: 'succeeded', detail: { provider: winner.provider, source } },
        ],
      );
      return { payment: completed, settled: true };
    }
    case 'await_webhook': {
      const { pending } = next;
      await enqueueJob(
        trx,
        sagaJob(SAGA_TASKS.pollCharge, payment.id, opts, {
          delaySeconds: opts.webhookDeadlineSeconds,
          key: pollJobKey(payment.id),
        }),
      );
      const waiting = await changePayment(
        trx,
        payment,
        all,
        { saga_step: 'charge_requested', provider: pending.provider },
        steps,
      );
      return { payment: waiting, settled: false };
    }
    case 'ask_again': {
      const { unknown, gapSeconds } = next;
      await enqueueJob(
        trx,
        sagaJob(SAGA_TASKS.chargeGateway, payment.id, opts, {
          delaySeconds: gapSeconds,
        }),
      );
      const waitStep: PaymentStep = {
        name: 'gateway_charge',
        status: 'outcome_unknown',
        attempt: unknown.calls,
        detail: { provider: unknown.provider, error: unknown.last_error, next_check_in_seconds: gapSeconds },
      };
      const waiting = await changePayment(trx, payment, all, {}, [...steps, waitStep]);
      return { payment: waiting, settled: false };
    }
    case 'fail_declined': {
      const { declined } = next;
      const failed = await compensate(
        trx,
        payment,
        'GATEWAY_DECLINED',
        [
          ...steps,
          {
            name: 'gateway_result',
            status: 'failed',
            detail: { provider: declined.provider, source, decline_code: declined.decline_code },
          },
        ],
        all,
        declined.provider,
      );
      return { payment: failed, settled: true };
    }
    case 'try_provider':
      return { payment: await recorded(), settled: false, tryProvider: next.provider };
    case 'fail_unavailable': {
      const { canceled } = next;
      const failed = await compensate(
        trx,
        payment,
        'GATEWAY_UNAVAILABLE',
        [
          ...steps,
          {
            name: 'gateway_result',
            status: canceled ? 'canceled' : 'unavailable',
            detail: { provider: canceled?.provider ?? null, source },
          },
        ],
        all,
        canceled?.provider ?? null,
      );
      return { payment: failed, settled: true };
    }
  }
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
    { saga_step: 'rejected', status: 'REJECTED', failure_reason: reason },
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
  provider: Provider | null = payment.provider,
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
    { saga_step: 'failed', status: 'FAILED', failure_reason: reason, provider },
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
