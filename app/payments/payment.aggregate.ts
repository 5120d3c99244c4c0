import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { PaymentStatus } from '../db/types.ts';
import type { EventData, EventType } from '../events/catalogue.ts';
import { type JobRemoval, jobSpec, type NextJob, validEventData } from '../events/record-event.ts';
import type { PaymentRow } from './payment.repository.ts';

export const TERMINAL_STATUSES: readonly PaymentStatus[] = [
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'REFUNDED',
  'PARTIALLY_REFUNDED',
];
/**
 * Statuses in which the saga has finished (refunds may still follow a COMPLETED payment).
 * db/functions/payment__change.sql tests the same three when it sets completed_at and NOTIFYs;
 * test/saga-definition.test.ts checks that they agree.
 */
export const isSettled = (status: PaymentStatus) =>
  status === 'COMPLETED' || status === 'REJECTED' || status === 'FAILED';

export type PaymentEvent = {
  [T in EventType]: T extends `payment.${string}` ? { type: T; data: EventData<T>; next?: NextJob } : never;
}[EventType];

/** The channel `Prefer: wait` listens on; the payload is the payment id (sent by payment__change). */
export const PAYMENT_SETTLED_CHANNEL = 'payment_settled';

/** What a transition records in payment_steps (the operator's view of the saga). */
export interface PaymentStep {
  name: string;
  status: string;
  attempt?: number;
  detail?: Record<string, unknown>;
}

/**
 * The payment columns a transition may change (version, updated_at and completed_at follow from
 * it). db/functions/payment__change.sql refuses any other; test/saga-definition.test.ts checks
 * that the two lists agree.
 */
export const CHANGEABLE_COLUMNS = [
  'saga_step',
  'status',
  'failure_reason',
  'provider',
  'refunded_amount',
  'refund_reserved',
] as const satisfies readonly (keyof PaymentRow)[];
export type PaymentChanges = Partial<Pick<PaymentRow, (typeof CHANGEABLE_COLUMNS)[number]>>;

/**
 * One transition of a payment, in one round trip (db/functions/payment__change.sql): appends its
 * events in order, each at the next version with its outbox row and next job, enqueues `jobs` (the
 * ones no event of this transition carries), records `steps`, and applies `changes` to the payment
 * row, on `trx`, which must hold the payment's row lock. When the
 * payment settles, NOTIFYs PAYMENT_SETTLED_CHANNEL, delivered by Postgres only if and when the
 * transaction commits. Event data is validated against the catalogue here, before anything is sent.
 */
export async function changePayment(
  trx: Trx,
  payment: PaymentRow,
  events: PaymentEvent[],
  changes: PaymentChanges,
  steps: PaymentStep[] = [],
  jobs: (NextJob | JobRemoval)[] = [],
): Promise<PaymentRow> {
  const appended = events.map((event) => ({
    event_id: randomUUID(),
    type: event.type,
    data: validEventData(event.type, event.data),
    job: event.next ? jobSpec(event.next) : null,
  }));
  const { rows } = await sql<PaymentRow>`
    select * from payment__change(${payment.id}::uuid, ${payment.version}::int, ${JSON.stringify(appended)}::jsonb,
                                  ${JSON.stringify(changes)}::jsonb, ${JSON.stringify(steps)}::jsonb,
                                  ${JSON.stringify(jobs.map(jobSpec))}::jsonb)`.execute(trx);
  const updated = rows[0];
  if (!updated) throw new Error('payment__change returned no row');
  return updated;
}
