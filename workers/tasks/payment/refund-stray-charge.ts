import type { JobHelpers } from 'graphile-worker';
import type { z } from 'zod';
import { tagTransactionWithTrace } from '../../../app/db/trace-transaction.ts';
import { enqueueJob } from '../../../app/events/record-event.ts';
import { findAttempt } from '../../../app/payments/charge-attempts.ts';
import { changePayment } from '../../../app/payments/payment.aggregate.ts';
import { gatewayStrayRefundsTotal } from '../../../app/payments/payment.metrics.ts';
import { lockPaymentById } from '../../../app/payments/payment.repository.ts';
import { type strayChargePayload, strayRefundJob } from '../../../app/payments/saga-definition.ts';
import { PermanentJobError } from '../../dead-letter.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';

/**
 * Gives back money the gateway took that no payment keeps (app/payments/saga.ts marks it): refunds
 * the whole charge at the gateway under the key "stray:<attempt id>", then records
 * payment.stray_charge_refunded. Any trouble throws, so graphile-worker retries with the same key;
 * once the job's attempts are spent it schedules itself again a minute later, so the money goes
 * back when the provider does, with no operator (docs/runbooks/gateway.md shows the open ones). A
 * refusal for good (a 4xx: no such charge, nothing left to refund) is dead-lettered at once.
 */
export const refundStrayCharge =
  (deps: WorkerDeps) =>
  async ({ paymentId, attemptId }: z.output<typeof strayChargePayload>, helpers: JobHelpers) => {
    const attempt = await findAttempt(deps.db, paymentId, attemptId);
    if (!attempt?.stray_detected_at || attempt.stray_refund_id || !attempt.gateway_charge_id) return;
    const outcome = await deps.gateway.refund(
      attempt.provider,
      { charge_id: attempt.gateway_charge_id, amount: attempt.amount },
      `stray:${attempt.id}`,
      callSignal(deps, helpers),
    );
    if (outcome.kind !== 'answered') {
      logGatewayTrouble(
        helpers.logger,
        {
          call: `stray refund of charge ${attempt.gateway_charge_id}`,
          provider: attempt.provider,
          paymentId,
        },
        outcome,
      );
      const error = `stray refund of ${attempt.provider} charge ${attempt.gateway_charge_id}: ${outcome.reason}`;
      // The gateway answers it with a 4xx (no such charge, not succeeded any more, nothing left to
      // refund): asking again will not help, so an operator looks (a replay reuses the same key).
      const status = outcome.status;
      if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429)
        throw new PermanentJobError(error);
      if (helpers.job.attempts < helpers.job.max_attempts) throw new Error(error);
      helpers.logger.error(`${error}; asking again in a minute`);
      await deps.db
        .transaction()
        .execute((trx) => enqueueJob(trx, strayRefundJob(paymentId, attemptId, deps.saga, 60)));
      return;
    }
    const refundId = outcome.value.id;
    await deps.db.transaction().execute(async (trx) => {
      await tagTransactionWithTrace(trx);
      const payment = await lockPaymentById(trx, paymentId);
      const marked = await trx
        .updateTable('charge_attempts')
        .set({ stray_refund_id: refundId })
        .where('id', '=', attemptId)
        .where('stray_refund_id', 'is', null)
        .returning('id')
        .executeTakeFirst();
      if (!payment || !marked) return;
      await changePayment(
        trx,
        payment,
        [
          {
            type: 'payment.stray_charge_refunded',
            data: {
              provider: attempt.provider,
              charge_id: attempt.gateway_charge_id as string,
              refund_id: refundId,
              amount: attempt.amount,
            },
          },
        ],
        {},
        [
          {
            name: 'stray_refund',
            status: 'succeeded',
            detail: { provider: attempt.provider, refund_id: refundId },
          },
        ],
      );
    });
    gatewayStrayRefundsTotal.inc({ provider: attempt.provider });
  };
