import type { Provider } from '../../../app/db/types.ts';
import type { GatewayCharge, MoneyCallOutcome } from '../../../app/gateway/gateway-client.ts';
import {
  type ChargeAttempt,
  checkChargeMatches,
  findAttempt,
  listAttempts,
  recordCall,
  recordNewAttempt,
  recordReported,
  recordUnanswered,
} from '../../../app/payments/charge-attempts.ts';
import { gatewayUnknownOutcomesTotal, observeSettlement } from '../../../app/payments/payment.metrics.ts';
import { findPaymentById, lockPaymentById } from '../../../app/payments/payment.repository.ts';
import { advancePayment } from '../../../app/payments/saga.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';
import { defineTask } from '../../task-catalogue.ts';
import { paymentPayload } from './payload.ts';

/**
 * Step 3: the charge at the gateway, while the payment is `debited`. Each round, under the
 * payment's lock, either claims the attempt whose outcome is unknown (a same-key retry: a question,
 * never stopped by the breaker) or records a new attempt at the next provider (alpha, then beta),
 * and commits that BEFORE sending. The HTTP call runs outside any transaction; what it proved is
 * recorded afterwards and advancePayment (app/payments/saga.ts) takes the next transition. Only an
 * attempt known not to have charged lets the saga move to beta or give the money back; an unknown
 * one leaves the payment waiting, and this step is scheduled again to ask.
 */
export const chargeGateway = (deps: WorkerDeps) =>
  defineTask(paymentPayload, async ({ paymentId }, helpers) => {
    const initial = await findPaymentById(deps.db, paymentId);
    if (initial?.saga_step !== 'debited') return; // already past this step
    const signal = callSignal(deps, helpers);
    for (let round = 0; round < 4; round++) {
      // Aborted (shutdown, or this process's runner died): no new call, no new attempt.
      if (signal.aborted) return;
      const claimed = await deps.db.transaction().execute(async (trx) => {
        const payment = await lockPaymentById(trx, paymentId);
        if (payment?.saga_step !== 'debited') return undefined;
        const attempts = await listAttempts(trx, paymentId);
        const unknown = attempts.find((a) => a.idempotency_key !== null && a.status === 'unknown');
        if (unknown) return { payment, attempt: await recordCall(trx, unknown), fresh: false };
        const {
          tryProvider,
          settled,
          payment: moved,
        } = await advancePayment(trx, payment, [], [], 'answer', deps.saga);
        if (settled) observeSettlement(moved);
        if (!tryProvider) return undefined;
        const attempt = await recordNewAttempt(trx, moved, tryProvider);
        return attempt ? { payment: moved, attempt, fresh: true } : undefined;
      });
      if (!claimed) return;
      const { payment, attempt, fresh } = claimed;
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
      const result = await deps.db.transaction().execute(async (trx) => {
        const locked = await lockPaymentById(trx, paymentId);
        if (!locked) return undefined;
        const current = await findAttempt(trx, paymentId, attempt.id);
        if (!current) return undefined;
        const recorded = await recordOutcome(trx, current, outcome, attempt.provider);
        return advancePayment(trx, locked, recorded.events, [recorded.step], 'answer', deps.saga);
      });
      if (outcome.kind === 'unknown') gatewayUnknownOutcomesTotal.inc({ provider: attempt.provider });
      if (result?.settled) observeSettlement(result.payment);
      if (!result?.tryProvider) return;
    }
  });

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
