import type { JobHelpers } from 'graphile-worker';
import { sql } from 'kysely';
import type { z } from 'zod';
import { tagTransactionWithTrace } from '../../../app/db/trace-transaction.ts';
import { enqueueJob } from '../../../app/events/record-event.ts';
import { keptCharge, listAttempts } from '../../../app/payments/charge-attempts.ts';
import { refundsFailedTotal } from '../../../app/payments/payment.metrics.ts';
import {
  findPaymentById,
  findRefundById,
  lockPaymentById,
} from '../../../app/payments/payment.repository.ts';
import { failRefund, settleRefund } from '../../../app/payments/refunds.ts';
import { refundJob, type refundPayload } from '../../../app/payments/saga-definition.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';

/**
 * The refund saga's one step: refund at the gateway (idempotency key "refund:<id>"), then credit
 * the wallet in one transaction. Each call is counted before it is sent (refunds.gateway_calls).
 * - answered: the wallet is credited, the refund SUCCEEDED;
 * - refused by the gateway (a 4xx): the refund ends FAILED and its amount is released;
 * - not reachable (connection refused, 503 `processed: false`): retried by graphile-worker; on the
 *   job's last attempt, FAILED;
 *   both only while every call of this refund was refused so (gateway_calls = refused_calls);
 * - no answer (timeout, 5xx): retried with the same key; never failed, since the gateway may have
 *   refunded. On the last attempt the step schedules itself again: it waits rather than guess.
 */
export const refundPayment =
  (deps: WorkerDeps) =>
  async ({ paymentId, refundId }: z.output<typeof refundPayload>, helpers: JobHelpers) => {
    const refund = await findRefundById(deps.db, refundId);
    if (refund?.status !== 'PENDING') return; // already settled
    const payment = await findPaymentById(deps.db, paymentId);
    const charge = payment && keptCharge(payment, await listAttempts(deps.db, paymentId));
    if (!payment?.provider || !charge?.gateway_charge_id)
      throw new Error(`refund ${refundId}: payment ${paymentId} has no succeeded charge`);

    const claimed = await deps.db
      .updateTable('refunds')
      .set({ gateway_calls: sql<number>`gateway_calls + 1` })
      .where('id', '=', refundId)
      .where('status', '=', 'PENDING')
      .returning('id')
      .executeTakeFirst();
    if (!claimed) return;
    const outcome = await deps.gateway.refund(
      payment.provider,
      { charge_id: charge.gateway_charge_id, amount: refund.amount },
      `refund:${refund.id}`,
      callSignal(deps, helpers),
    );
    const lastAttempt = helpers.job.attempts >= helpers.job.max_attempts;
    if (outcome.kind !== 'answered')
      logGatewayTrouble(
        helpers.logger,
        { call: `refund ${refundId}`, provider: payment.provider, paymentId, traceId: payment.trace_id },
        outcome,
      );

    const next = await deps.db.transaction().execute(async (trx) => {
      await tagTransactionWithTrace(trx);
      const locked = await lockPaymentById(trx, paymentId);
      const current = await trx
        .selectFrom('refunds')
        .selectAll()
        .where('id', '=', refundId)
        .forNoKeyUpdate()
        .executeTakeFirst();
      if (!locked || current?.status !== 'PENDING') return 'done' as const;
      if (outcome.kind === 'answered') {
        await settleRefund(trx, locked, current, outcome.value.id);
        return 'done' as const;
      }
      if (outcome.kind === 'refused') {
        // Failed only when no call of this refund may have been processed: a 4xx (or 409 "in
        // progress") to a later call says nothing about an earlier call that timed out.
        const refused = current.refused_calls + 1;
        await trx.updateTable('refunds').set({ refused_calls: refused }).where('id', '=', refundId).execute();
        const byGateway =
          outcome.status !== undefined &&
          outcome.status >= 400 &&
          outcome.status < 500 &&
          outcome.status !== 429;
        if (refused >= current.gateway_calls && (byGateway || lastAttempt)) {
          const reason = byGateway ? 'refused' : 'unreachable';
          await failRefund(trx, locked, current, `${reason} by ${payment.provider}: ${outcome.reason}`);
          refundsFailedTotal.inc({ reason });
          return 'done' as const;
        }
      }
      if (!lastAttempt) return 'retry' as const;
      // Out of attempts with an unknown outcome: keep asking, same key, a minute from now.
      await enqueueJob(trx, refundJob(paymentId, refundId, deps.saga, 60));
      return 'rescheduled' as const;
    });
    if (next === 'retry')
      throw new Error(
        `refund ${refundId} at ${payment.provider}: ${outcome.kind === 'answered' ? '' : outcome.reason}`,
      );
  };
