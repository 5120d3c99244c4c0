import { BrokenCircuitError, TaskCancelledError } from 'cockatiel';
import type { Provider } from '../../../app/db/types.ts';
import { GatewayHttpError } from '../../../app/gateway/gateway-client.ts';
import { observeSettlement } from '../../../app/payments/payment.metrics.ts';
import { findPaymentById, lockPaymentById, recordStep } from '../../../app/payments/payment.repository.ts';
import { failUnavailable, recordChargeRequested } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { defineTask } from '../../task-catalogue.ts';
import { paymentPayload } from './payload.ts';

const PROVIDERS: readonly Provider[] = ['alpha', 'beta'];

/**
 * Step 3: ask the gateway to charge. alpha first; beta when alpha's breaker is open or its
 * attempts (GATEWAY_MAX_ATTEMPTS, with backoff, each under a timeout) are spent. The idempotency
 * key is "<payment>:<provider>", so a retried job gets the same charge back, never a second one.
 * The HTTP call runs outside any transaction; its result is recorded in one afterwards. When no
 * provider accepts, the payment is compensated (GATEWAY_UNAVAILABLE).
 */
export const chargeGateway = (deps: WorkerDeps) =>
  defineTask(paymentPayload, async ({ paymentId }, helpers) => {
    const payment = await findPaymentById(deps.db, paymentId);
    if (payment?.saga_step !== 'debited') return; // already applied
    const attempt = helpers.job.attempts;
    const failures: Array<{ provider: Provider; error: string }> = [];

    for (const provider of PROVIDERS) {
      if (deps.gateway.isCircuitOpen(provider)) {
        failures.push({ provider, error: 'circuit open' });
        await recordStep(deps.db, {
          paymentId,
          name: 'gateway_charge',
          status: 'skipped',
          attempt,
          detail: { provider, reason: 'circuit_open' },
        });
        continue;
      }
      try {
        const charge = await deps.gateway.createCharge(
          provider,
          {
            amount: payment.amount,
            currency: payment.currency,
            reference: payment.id,
            callback_url: `${deps.config.GATEWAY_CALLBACK_BASE_URL}/webhooks/gateway/${provider}`,
          },
          `${payment.id}:${provider}`,
        );
        await deps.db.transaction().execute(async (trx) => {
          const locked = await lockPaymentById(trx, paymentId);
          if (locked?.saga_step !== 'debited') return;
          await recordChargeRequested(trx, locked, { provider, chargeId: charge.id, attempt }, deps.saga);
        });
        return;
      } catch (err) {
        if (!isGatewayFailure(err)) throw err; // our own trouble (database): let the job retry
        const error = (err as Error).message || (err as Error).name;
        failures.push({ provider, error });
        await recordStep(deps.db, {
          paymentId,
          name: 'gateway_charge',
          status: 'failed',
          attempt,
          detail: { provider, error },
        });
      }
    }

    const failed = await deps.db.transaction().execute(async (trx) => {
      const locked = await lockPaymentById(trx, paymentId);
      if (locked?.saga_step !== 'debited') return undefined;
      return failUnavailable(trx, locked, failures);
    });
    if (failed) observeSettlement(failed);
  });

function isGatewayFailure(err: unknown): boolean {
  return (
    err instanceof GatewayHttpError ||
    err instanceof BrokenCircuitError ||
    err instanceof TaskCancelledError ||
    (err instanceof TypeError && /fetch failed/i.test(err.message)) ||
    err instanceof SyntaxError // an unparseable answer
  );
}
