import { sql } from 'kysely';
import type { Provider } from '../../../app/db/types.ts';
import { jobSpec } from '../../../app/events/record-event.ts';
import {
  type ChargeAttempt,
  checkChargeMatches,
  findAttempt,
  recordReported,
  recordUnanswered,
} from '../../../app/payments/charge-attempts.ts';
import { gatewayUnknownOutcomesTotal } from '../../../app/payments/payment.metrics.ts';
import { advancePayment, type ChargeClaim, claimCharge, runPaymentStep } from '../../../app/payments/saga.ts';
import { stepJob } from '../../../app/payments/saga-definition.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import type { GatewayCharge, MoneyCallOutcome } from '../../gateway/gateway-client.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';
import type { PaymentStepTask } from './step-task.ts';

/**
 * Step 3: the charge at the gateway, while the payment is `debited`. The fraud check's job comes
 * straight here after the debit (fraud-check.ts), its transaction having claimed the first attempt
 * already; this task runs it for a payment re-driven at `debited`, or asked again after an unknown
 * outcome. See chargeAtGateway.
 */
export const chargeGateway =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }, helpers) => {
    // Stopped before a call it claimed (shutdown): failed, so that graphile-worker runs it again.
    if ((await chargeAtGateway(deps, paymentId, helpers)) === 'aborted')
      throw new Error(`payment ${paymentId}: the worker stopped before the charge call; asked again`);
  };

/**
 * The charge made by the job that debited, with the attempt its transaction claimed. Trouble
 * (an error, an answer that does not match, this worker stopping before the call) hands the
 * charge to its own step's job, which retries, dead-letters and reports it as the charge step.
 */
export async function chargeInline(
  deps: WorkerDeps,
  paymentId: string,
  helpers: Parameters<PaymentStepTask>[1],
  claim: ChargeClaim,
): Promise<void> {
  try {
    if ((await chargeAtGateway(deps, paymentId, helpers, claim)) === 'done') return;
  } catch (err) {
    helpers.logger.warn(`payment ${paymentId}: the charge goes to its own step after: ${String(err)}`);
  }
  await handOverCharge(deps, paymentId);
}

/** Enqueues the charge step's job for the payment, if it is still waiting at `debited`. */
export async function handOverCharge(deps: WorkerDeps, paymentId: string): Promise<void> {
  const job = jobSpec(stepJob('debited', paymentId, deps.saga));
  await sql`select job__apply(${JSON.stringify(job)}::jsonb)
              from payments where id = ${paymentId}::uuid and saga_step = 'debited'`.execute(deps.db);
}

/**
 * Each round, under the payment's lock, either claims the attempt whose outcome is unknown (a
 * same-key retry: a question, never stopped by the breaker) or records a new attempt at the next
 * provider (alpha, then beta), and commits that BEFORE sending (claimCharge). The HTTP call runs
 * outside any transaction; what it proved is recorded afterwards and advancePayment
 * (app/payments/saga.ts) takes the next transition. Only an attempt known not to have charged lets
 * the saga move to beta or give the money back; an unknown one leaves the payment waiting, and the
 * charge step is scheduled again to ask. `claimed`: the first round's claim, committed by the
 * caller's transaction.
 */
export async function chargeAtGateway(
  deps: WorkerDeps,
  paymentId: string,
  helpers: Parameters<PaymentStepTask>[1],
  claimed?: ChargeClaim,
): Promise<'done' | 'aborted'> {
  const signal = callSignal(deps, helpers);
  let claim = claimed;
  for (let round = 0; round < 4; round++) {
    // Aborted (shutdown, or this process's runner died): no new call, no new attempt.
    if (signal.aborted) return 'aborted';
    if (round > 0 || !claim)
      claim = (
        await runPaymentStep(deps.db, paymentId, ['debited'], (trx, payment) =>
          claimCharge(trx, payment, deps.saga),
        )
      )?.claim;
    if (!claim) return 'done';
    const { payment, attempt, fresh } = claim;
    const outcome = await deps.gateway.createCharge(
      attempt.provider,
      {
        amount: payment.amount,
        currency: payment.currency,
        reference: payment.id,
        callback_url: `${deps.config.GATEWAY_CALLBACK_BASE_URL}/webhooks/gateway/${attempt.provider}`,
      },
      attempt.idempotency_key as string,
      fresh,
      signal,
    );
    if (outcome.kind === 'answered') checkChargeMatches(payment, attempt.provider, outcome.value);
    else
      logGatewayTrouble(
        helpers.logger,
        { call: 'charge', provider: attempt.provider, paymentId, traceId: payment.trace_id },
        outcome,
      );
    // Whatever the step is now (a webhook may have settled it meanwhile), the answer is recorded.
    const result = await runPaymentStep(deps.db, paymentId, 'any', async (trx, locked) => {
      const current = await findAttempt(trx, paymentId, attempt.id);
      if (!current) return undefined;
      const recorded = await recordOutcome(trx, current, outcome, attempt.provider);
      return advancePayment(trx, locked, recorded.events, [recorded.step], 'answer', deps.saga);
    });
    if (outcome.kind === 'unknown') gatewayUnknownOutcomesTotal.inc({ provider: attempt.provider });
    if (!result?.tryProvider) return 'done';
  }
  return 'done';
}

/** What one call proved, written to its attempt; returns the events and the step to record. */
async function recordOutcome(
  trx: Parameters<typeof recordReported>[0],
  attempt: ChargeAttempt,
  outcome: MoneyCallOutcome<GatewayCharge>,
  provider: Provider,
) {
  const step = (status: string, detail: Record<string, unknown>) => ({
    name: 'gateway_charge',
    status,
    attempt: attempt.calls,
    detail: { provider, ...detail },
  });
  if (outcome.kind === 'answered') {
    const { events } = await recordReported(trx, attempt, outcome.value, 'answer');
    return { events, step: step('requested', { charge_id: outcome.value.id }) };
  }
  if (outcome.kind === 'refused') {
    const { attempt: updated, events } = await recordUnanswered(trx, attempt, {
      proven: true,
      error: outcome.reason,
    });
    const status =
      updated.status === 'not_created'
        ? outcome.reason === 'circuit open'
          ? 'skipped'
          : 'failed'
        : 'refused';
    return { events, step: step(status, { error: outcome.reason }) };
  }
  const { events } = await recordUnanswered(trx, attempt, { proven: false, error: outcome.reason });
  return { events, step: step('unknown', { error: outcome.reason }) };
}
