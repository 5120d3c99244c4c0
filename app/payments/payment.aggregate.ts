import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { PaymentStatus } from '../db/types.ts';
import type { EventData, EventType } from '../events/catalogue.ts';
import { type NextJob, recordEvent } from '../events/record-event.ts';
import { type PaymentRow, updatePayment } from './payment.repository.ts';

export const TERMINAL_STATUSES: readonly PaymentStatus[] = [
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'REFUNDED',
  'PARTIALLY_REFUNDED',
];
/** Statuses in which the saga has finished (refunds may still follow a COMPLETED payment). */
export const isSettled = (status: PaymentStatus) =>
  status === 'COMPLETED' || status === 'REJECTED' || status === 'FAILED';

export type PaymentEvent = {
  [T in EventType]: T extends `payment.${string}` ? { type: T; data: EventData<T>; next?: NextJob } : never;
}[EventType];

/** The channel `Prefer: wait` listens on; the payload is the payment id. */
export const PAYMENT_SETTLED_CHANNEL = 'payment_settled';

/**
 * Appends payment events (in order, each at the next version) and applies `changes` to the payment
 * row, on `trx`, which must hold the payment's row lock. When the payment settles, NOTIFYs
 * PAYMENT_SETTLED_CHANNEL, delivered by Postgres only if and when the transaction commits.
 */
export async function changePayment(
  trx: Trx,
  payment: PaymentRow,
  events: PaymentEvent[],
  changes: Parameters<typeof updatePayment>[2],
): Promise<PaymentRow> {
  let version = payment.version;
  for (const event of events) {
    const recorded = await recordEvent(trx, {
      type: event.type,
      aggregateId: payment.id,
      expectedVersion: version,
      data: event.data as never,
      traceId: payment.trace_id,
      next: event.next,
    });
    version = recorded.version;
  }
  const updated = await updatePayment(trx, payment.id, { ...changes, version });
  if (!isSettled(payment.status) && isSettled(updated.status)) {
    await sql`select pg_notify(${PAYMENT_SETTLED_CHANNEL}, ${payment.id})`.execute(trx);
  }
  return updated;
}
