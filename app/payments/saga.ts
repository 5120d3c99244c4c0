import client from 'prom-client';
import type { Db, Trx } from '../db/database.ts';
import { tagTransactionWithTrace } from '../db/trace-transaction.ts';
import type { FailureReason, Provider, SagaStep } from '../db/types.ts';
import type { JobRemoval, NextJob } from '../events/record-event.ts';
import { registry } from '../observability/metrics.ts';
import { inSpan } from '../observability/tracing.ts';
import { moveWalletMoney } from '../wallets/wallet.money.ts';
import {
  type ChargeAttempt,
  type ChargeSource,
  listAttempts,
  markStray,
  recordCall,
  recordNewAttempt,
} from './charge-attempts.ts';
import type { FraudDecision } from './fraud-rules.ts';
import { decideGatewayStep } from './gateway-decision.ts';
import { changePayment, isSettled, type PaymentEvent, type PaymentStep } from './payment.aggregate.ts';
import { observeSettlement } from './payment.metrics.ts';
import { lockPaymentById, type PaymentRow } from './payment.repository.ts';
import { type SagaOptions, stepJob, stepJobKey, strayRefundJob } from './saga-definition.ts';

const sagaStepSeconds = new client.Histogram({
  name: 'saga_step_duration_seconds',
  help: 'One saga transaction, from its BEGIN to its COMMIT, by the step the payment was at',
  labelNames: ['step'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

/**
 * The saga's one way to change a payment. Opens a transaction, locks the payment, checks that it
 * is at one of the `expected` steps (so a job delivered twice, or a webhook racing a poll, acts
 * once; 'any' for a record that applies whatever the step, such as a gateway's answer), runs
 * `step` on the locked row, commits, and then records the step's duration and, when the payment
 * settled, the settlement metrics (after the commit: a rolled-back transaction counts nothing).
 * Returns undefined when the payment is missing or elsewhere, or when `step` returns undefined.
 */
export async function runPaymentStep<R extends { payment: PaymentRow }>(
  db: Db,
  paymentId: string,
  expected: readonly SagaStep[] | 'any',
  step: (trx: Trx, payment: PaymentRow) => Promise<R | undefined>,
): Promise<R | undefined> {
  const started = performance.now();
  const ran = await inSpan('saga step', { attributes: { 'payment.id': paymentId } }, (span) =>
    db.transaction().execute(async (trx) => {
      await tagTransactionWithTrace(trx);
      const payment = await lockPaymentById(trx, paymentId);
      if (!payment || (expected !== 'any' && !expected.includes(payment.saga_step))) return undefined;
      span.updateName(`saga step ${payment.saga_step}`);
      const result = await step(trx, payment);
      return result && { result, before: payment };
    }),
  );
  if (!ran) return undefined;
  sagaStepSeconds.observe({ step: ran.before.saga_step }, (performance.now() - started) / 1000);
  if (!isSettled(ran.before.status) && isSettled(ran.result.payment.status))
    observeSettlement(ran.result.payment);
  return ran.result;
}

/**
 * The saga's transitions. Each runs on `trx`, which holds the payment's row lock, and is called
 * only when `payment.saga_step` is the step it follows (runPaymentStep checks). Business outcomes
 * (declines, insufficient funds) are state, not exceptions.
 */

/**
 * Steps `requested` and `fraud_checked` in one transaction (PAYMENT_SAGA.requested.continues):
 * the fraud decision, then, if approved, the debit and the claim of the first charge attempt.
 * Two events, two steps, one commit; the caller's job then makes the claimed call.
 */
export async function checkFraudThenDebit(
  trx: Trx,
  payment: PaymentRow,
  decision: FraudDecision,
  opts: SagaOptions,
): Promise<{ payment: PaymentRow; debit?: 'debited' | 'declined'; claim?: ChargeClaim }> {
  const checked = await applyFraudDecision(trx, payment, decision);
  if (checked.saga_step !== 'fraud_checked') return { payment: checked };
  return debitAndClaim(trx, checked, opts);
}

/** Step `fraud_checked`: the debit, and, when it went through, the first charge attempt's claim. */
export async function debitAndClaim(
  trx: Trx,
  payment: PaymentRow,
  opts: SagaOptions,
): Promise<{ payment: PaymentRow; debit: 'debited' | 'declined'; claim?: ChargeClaim }> {
  const debited = await debitWalletForPayment(trx, payment, opts);
  if (debited.debit !== 'debited') return debited;
  const { payment: claimedFor, claim } = await claimCharge(trx, debited.payment, opts);
  return { payment: claimedFor, debit: 'debited', claim };
}

/** A charge attempt recorded (and, once committed, safe to send): what the call needs. */
export interface ChargeClaim {
  payment: PaymentRow;
  attempt: ChargeAttempt;
  /** A new attempt (first call with its key), or a same-key question about an unknown one. */
  fresh: boolean;
}

/**
 * On a `debited` payment under its lock: claims the call to make next, recorded before it is made.
 * The attempt whose outcome is unknown gets one more call counted (a same-key question); otherwise
 * advancePayment decides (it may settle the payment instead), and a new attempt is recorded at the
 * provider it names. No claim: nothing to send.
 */
export async function claimCharge(
  trx: Trx,
  payment: PaymentRow,
  opts: SagaOptions,
): Promise<{ payment: PaymentRow; claim?: ChargeClaim }> {
  const attempts = await listAttempts(trx, payment.id);
  const unknown = attempts.find((a) => a.idempotency_key !== null && a.status === 'unknown');
  if (unknown) return { payment, claim: { payment, attempt: await recordCall(trx, unknown), fresh: false } };
  const { tryProvider, payment: moved } = await advancePayment(trx, payment, [], [], 'answer', opts);
  const attempt = tryProvider ? await recordNewAttempt(trx, moved, tryProvider) : undefined;
  return { payment: moved, claim: attempt && { payment: moved, attempt, fresh: true } };
}

export async function applyFraudDecision(trx: Trx, payment: PaymentRow, decision: FraudDecision) {
  const step: PaymentStep = {
    name: 'fraud_check',
    status: decision.approved ? 'approved' : 'declined',
    detail: { score: decision.score, reasons: decision.reasons },
  };
  const checked: PaymentEvent = { type: 'payment.fraud_checked', data: decision };
  if (decision.approved) {
    return changePayment(trx, payment, [checked], { saga_step: 'fraud_checked' }, [step]);
  }
  return reject(trx, payment, 'FRAUD_SUSPECTED', [checked], [step]);
}

/**
 * Debits the wallet (row lock inside, after the payment's: the same order everywhere, so no
 * deadlock), or rejects the payment when the balance is short (the gateway is never called). The
 * job that debited goes on to charge (debitAndClaim); payment.wallet_debited still carries the
 * charge step's own job, delayed past that job's calls: if the job dies or spends its attempts
 * after this commit, the charge step moves the payment on (the next transition replaces or removes
 * it).
 */
async function debitWalletForPayment(
  trx: Trx,
  payment: PaymentRow,
  opts: SagaOptions,
): Promise<{ payment: PaymentRow; debit: 'debited' | 'declined' }> {
  const moved = await moveWalletMoney(
    trx,
    paymentMovement(payment, 'PAYMENT_DEBIT', 'wallet.debited', 'debit'),
  );
  if (!moved.ok) {
    const declined = { name: 'wallet_debit', status: 'declined', detail: { reason: moved.reason } };
    return { payment: await reject(trx, payment, 'INSUFFICIENT_FUNDS', [], [declined]), debit: 'declined' };
  }
  const debited: PaymentEvent = {
    type: 'payment.wallet_debited',
    data: {
      wallet_id: payment.wallet_id,
      entry_id: moved.entry.id,
      amount: payment.amount,
      currency: payment.currency,
    },
    next: stepJob('debited', payment.id, opts, opts.chargeBackstopSeconds),
  };
  const updated = await changePayment(
    trx,
    payment,
    [debited],
    { saga_step: 'debited', status: 'PROCESSING' },
    [{ name: 'wallet_debit', status: 'succeeded', detail: { balance_after: moved.entry.balance_after } }],
  );
  return { payment: updated, debit: 'debited' };
}

/**
 * Carries out the gateway part of the saga. The charge step, the status poll, webhooks and the
 * reconciliation all record what they learned about an attempt (app/payments/charge-attempts.ts)
 * and then call this, on `trx` holding the payment's lock, with the events those records implied.
 * decideGatewayStep (gateway-decision.ts) takes the next transition from the payment's attempts.
 * Returns the payment and the provider to attempt next, if any (runPaymentStep sees whether it settled).
 */
export async function advancePayment(
  trx: Trx,
  payment: PaymentRow,
  events: PaymentEvent[],
  steps: PaymentStep[],
  source: ChargeSource,
  opts: SagaOptions,
  jobs: NextJob[] = [],
): Promise<{ payment: PaymentRow; tryProvider?: Provider }> {
  const attempts = await listAttempts(trx, payment.id);
  const { strays, next } = decideGatewayStep(payment, attempts, opts.unknownRetryMaxSeconds);

  const all = [...events];
  for (const attempt of strays) {
    const detected = await markStray(trx, attempt, source);
    for (const event of detected) {
      all.push({
        ...event,
        next: strayRefundJob(payment.id, attempt.id, opts),
      } as PaymentEvent);
    }
  }
  // `jobs` go with a transition that leaves the payment waiting; a settled payment needs none.
  const recorded = async () =>
    all.length > 0 || steps.length > 0 || jobs.length > 0
      ? await changePayment(trx, payment, all, {}, steps, jobs)
      : payment;

  switch (next.kind) {
    case 'record':
      return { payment: await recorded() };
    case 'complete': {
      const { winner } = next;
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
        pendingStepsRemoved(payment.id),
      );
      return { payment: completed };
    }
    case 'await_webhook': {
      const { pending } = next;
      // The webhook's deadline: the status poll, removed by the settlement if a webhook comes first.
      // The charge step's backstop has nothing left to do.
      const deadline = stepJob('charge_requested', payment.id, opts, opts.webhookDeadlineSeconds);
      const backstopDone: JobRemoval = { removeKey: stepJobKey('debited', payment.id) };
      const waiting = await changePayment(
        trx,
        payment,
        all,
        { saga_step: 'charge_requested', provider: pending.provider },
        steps,
        [backstopDone, deadline],
      );
      return { payment: waiting };
    }
    case 'ask_again': {
      const { unknown, gapSeconds } = next;
      const waitStep: PaymentStep = {
        name: 'gateway_charge',
        status: 'outcome_unknown',
        attempt: unknown.calls,
        detail: { provider: unknown.provider, error: unknown.last_error, next_check_in_seconds: gapSeconds },
      };
      const askAgain = stepJob('debited', payment.id, opts, gapSeconds);
      const waiting = await changePayment(trx, payment, all, {}, [...steps, waitStep], [...jobs, askAgain]);
      return { payment: waiting };
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
      return { payment: failed };
    }
    case 'try_provider':
      return { payment: await recorded(), tryProvider: next.provider };
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
      return { payment: failed };
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
    pendingStepsRemoved(payment.id),
  );
}

/**
 * A settled payment's pending gateway steps (a status poll at the webhook deadline, a charge asked
 * again later), removed as it settles: they would only find it settled.
 */
const pendingStepsRemoved = (paymentId: string): JobRemoval[] => [
  { removeKey: stepJobKey('debited', paymentId) },
  { removeKey: stepJobKey('charge_requested', paymentId) },
];

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
    eventData: { payment_id: payment.id, amount: payment.amount },
  };
}
