import type { Provider } from '../../../app/db/types.ts';
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
import { gatewayUnknownOutcomesTotal } from '../../../app/payments/payment.metrics.ts';
import { findPaymentById } from '../../../app/payments/payment.repository.ts';
import { advancePayment, runPaymentStep } from '../../../app/payments/saga.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import type { GatewayCharge, MoneyCallOutcome } from '../../gateway/gateway-client.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';
import type { PaymentStepTask } from './step-task.ts';

/**
 * Step 3: the charge at the gateway, while the payment is `debited`. Each round, under the
 * payment's lock, either claims the attempt whose outcome is unknown (a same-key retry: a question,
 * never stopped by the breaker) or records a new attempt at the next provider (alpha, then beta),
 * and commits that BEFORE sending. The HTTP call runs outside any transaction; what it proved is
 * recorded afterwards and advancePayment (app/payments/saga.ts) takes the next transition. Only an
 * attempt known not to have charged lets the saga move to beta or give the money back; an unknown
 * one leaves the payment waiting, and this step is scheduled again to ask.
 */
export const chargeGateway =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }, helpers) => {
    const initial = await findPaymentById(deps.db, paymentId);
    if (initial?.saga_step !== 'debited') return; // already past this step
    const signal = callSignal(deps, helpers);
    for (let round = 0; round < 4; round++) {
      // Aborted (shutdown, or this process's runner died): no new call, no new attempt.
      if (signal.aborted) return;
      const claimed = await runPaymentStep(deps.db, paymentId, ['debited'], async (trx, payment) => {
        const attempts = await listAttempts(trx, paymentId);
        const unknown = attempts.find((a) => a.idempotency_key !== null && a.status === 'unknown');
        if (unknown) return { payment, attempt: await recordCall(trx, unknown), fresh: false };
        const { tryProvider, payment: moved } = await advancePayment(
          trx,
          payment,
          [],
          [],
          'answer',
          deps.saga,
        );
        const attempt = tryProvider ? await recordNewAttempt(trx, moved, tryProvider) : undefined;
        return { payment: moved, attempt, fresh: true };
      });
      if (!claimed?.attempt) return;
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
      // Whatever the step is now (a webhook may have settled it meanwhile), the answer is recorded.
      const result = await runPaymentStep(deps.db, paymentId, 'any', async (trx, locked) => {
        const current = await findAttempt(trx, paymentId, attempt.id);
        if (!current) return undefined;
        const recorded = await recordOutcome(trx, current, outcome, attempt.provider);
        return advancePayment(trx, locked, recorded.events, [recorded.step], 'answer', deps.saga);
      });
      if (outcome.kind === 'unknown') gatewayUnknownOutcomesTotal.inc({ provider: attempt.provider });
      if (!result?.tryProvider) return;
    }
  };

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
