import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { moveWalletMoney } from '../wallets/wallet.money.ts';
import { changePayment } from './payment.aggregate.ts';
import { lockOwnedPayment, type PaymentRow, type RefundRow, recordStep } from './payment.repository.ts';
import { refundJob, type SagaOptions } from './saga-definition.ts';

export class PaymentNotFound extends AppError {
  constructor(id: string) {
    super(404, 'PAYMENT_NOT_FOUND', 'Not found', `Payment ${id} does not exist.`);
  }
}

export class PaymentNotRefundable extends AppError {
  constructor(status: string) {
    super(409, 'PAYMENT_NOT_REFUNDABLE', 'Payment not refundable', `A ${status} payment cannot be refunded.`);
  }
}

export class RefundExceedsRemaining extends AppError {
  constructor(requested: number, remaining: number) {
    super(
      422,
      'REFUND_EXCEEDS_REMAINING',
      'Refund exceeds remaining amount',
      `Requested ${requested}, but only ${remaining} is left to refund (refunds in progress count).`,
    );
  }
}

/**
 * Opens a refund: locks the payment, reserves the amount (so concurrent refunds cannot together
 * exceed the payment), appends payment.refund_requested and enqueues the refund job.
 * Throws PaymentNotFound, PaymentNotRefundable, RefundExceedsRemaining.
 */
export async function requestRefund(
  trx: Trx,
  input: { ownerId: string; paymentId: string; amount?: number; reason: string | null; traceId: string },
  opts: SagaOptions,
): Promise<RefundRow> {
  const payment = await lockOwnedPayment(trx, input.ownerId, input.paymentId);
  if (!payment) throw new PaymentNotFound(input.paymentId);
  if (payment.status !== 'COMPLETED' && payment.status !== 'PARTIALLY_REFUNDED') {
    throw new PaymentNotRefundable(payment.status);
  }
  const remaining = payment.amount - payment.refunded_amount - payment.refund_reserved;
  const amount = input.amount ?? remaining;
  if (amount <= 0 || amount > remaining) throw new RefundExceedsRemaining(input.amount ?? 0, remaining);

  const refund = await trx
    .insertInto('refunds')
    .values({
      id: randomUUID(),
      payment_id: payment.id,
      amount,
      reason: input.reason,
      status: 'PENDING',
      trace_id: input.traceId,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await changePayment(
    trx,
    payment,
    [
      {
        type: 'payment.refund_requested',
        data: { refund_id: refund.id, amount, reason: input.reason },
        next: refundJob(payment.id, refund.id, opts),
      },
    ],
    { refund_reserved: payment.refund_reserved + amount },
  );
  await recordStep(trx, {
    paymentId: payment.id,
    name: 'refund',
    status: 'requested',
    detail: { refund_id: refund.id, amount },
  });
  return refund;
}

/**
 * The gateway refunded: credits the wallet (REFUND entry, wallet.refund_credited), moves the amount
 * from reserved to refunded and sets PARTIALLY_REFUNDED or REFUNDED. Caller holds the payment lock
 * and has checked the refund is still PENDING.
 */
export async function settleRefund(
  trx: Trx,
  payment: PaymentRow,
  refund: RefundRow,
  gatewayRefundId: string,
) {
  const credited = await moveWalletMoney(trx, {
    walletId: payment.wallet_id,
    entryType: 'REFUND',
    amount: refund.amount,
    paymentId: payment.id,
    sourceRef: `refund:${refund.id}`,
    reference: refund.reason,
    traceId: payment.trace_id,
    eventType: 'wallet.refund_credited',
    eventData: { payment_id: payment.id, refund_id: refund.id, amount: refund.amount },
  });
  if (!credited.ok) throw new Error('a refund credit cannot be refused for funds');
  await trx
    .updateTable('refunds')
    .set({ status: 'SUCCEEDED', gateway_refund_id: gatewayRefundId, completed_at: sql<Date>`now()` })
    .where('id', '=', refund.id)
    .execute();
  const refundedAmount = payment.refunded_amount + refund.amount;
  const status = refundedAmount === payment.amount ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  return changePayment(
    trx,
    payment,
    [
      {
        type: 'payment.refunded',
        data: { refund_id: refund.id, amount: refund.amount, refunded_amount: refundedAmount, status },
      },
    ],
    { refunded_amount: refundedAmount, refund_reserved: payment.refund_reserved - refund.amount, status },
    [{ name: 'refund', status: 'succeeded', detail: { refund_id: refund.id, amount: refund.amount } }],
  );
}

/**
 * The gateway refused the refund, or could not be reached past its retries with no request that
 * may have been processed: the refund ends FAILED (payment.refund_failed) and its reservation is
 * released, so the amount can be refunded again. The payment's status does not change. Caller
 * holds the payment lock and has checked the refund is still PENDING.
 */
export async function failRefund(trx: Trx, payment: PaymentRow, refund: RefundRow, reason: string) {
  await trx
    .updateTable('refunds')
    .set({ status: 'FAILED', failure_reason: reason.slice(0, 500), completed_at: sql<Date>`now()` })
    .where('id', '=', refund.id)
    .execute();
  return changePayment(
    trx,
    payment,
    [
      {
        type: 'payment.refund_failed',
        data: { refund_id: refund.id, amount: refund.amount, reason: reason.slice(0, 500) },
      },
    ],
    { refund_reserved: payment.refund_reserved - refund.amount },
    [{ name: 'refund', status: 'failed', detail: { refund_id: refund.id, amount: refund.amount, reason } }],
  );
}
