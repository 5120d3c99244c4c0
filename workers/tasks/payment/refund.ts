import {
  findCharge,
  findPaymentById,
  findRefundById,
  lockPaymentById,
} from '../../../app/payments/payment.repository.ts';
import { settleRefund } from '../../../app/payments/refunds.ts';
import type { WorkerDeps } from '../../deps.ts';
import { defineTask } from '../../task-catalogue.ts';
import { refundPayload } from './payload.ts';

/**
 * The refund saga's one step: refund at the gateway (idempotency key "refund:<id>"), then credit
 * the wallet in one transaction. A gateway failure throws, so graphile-worker retries the job;
 * when its attempts are spent it lands in the dead letters, to be replayed once the gateway is back.
 */
export const refundPayment = (deps: WorkerDeps) =>
  defineTask(refundPayload, async ({ paymentId, refundId }) => {
    const refund = await findRefundById(deps.db, refundId);
    if (refund?.status !== 'PENDING') return; // already applied
    const payment = await findPaymentById(deps.db, paymentId);
    if (!payment?.provider) throw new Error(`refund ${refundId}: payment ${paymentId} has no provider`);
    const charge = await findCharge(deps.db, paymentId, payment.provider);
    if (!charge) throw new Error(`refund ${refundId}: no charge for payment ${paymentId}`);

    const gatewayRefund = await deps.gateway.refund(
      payment.provider,
      { charge_id: charge.gateway_charge_id, amount: refund.amount },
      `refund:${refund.id}`,
    );

    await deps.db.transaction().execute(async (trx) => {
      const locked = await lockPaymentById(trx, paymentId);
      const current = await trx
        .selectFrom('refunds')
        .selectAll()
        .where('id', '=', refundId)
        .forUpdate()
        .executeTakeFirst();
      if (!locked || current?.status !== 'PENDING') return;
      await settleRefund(trx, locked, current, gatewayRefund.id);
    });
  });
