import { type Selectable, sql } from 'kysely';
import type { Db, Trx } from '../db/database.ts';
import type { PaymentStatus, PaymentStepTable, PaymentTable, RefundTable } from '../db/types.ts';
import { CURSOR_TIME_FORMAT } from '../http/cursor.ts';

export type PaymentRow = Selectable<PaymentTable>;
export type PaymentStepRow = Selectable<PaymentStepTable>;
export type RefundRow = Selectable<RefundTable>;

/**
 * Locks the payment row until the transaction ends: saga steps on one payment run one at a time.
 * FOR NO KEY UPDATE leaves alone the inserts that reference the payment (steps, attempts, refunds).
 */
export function lockPaymentById(trx: Trx, id: string): Promise<PaymentRow | undefined> {
  return trx.selectFrom('payments').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
}

export function findPaymentById(db: Db | Trx, id: string): Promise<PaymentRow | undefined> {
  return db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The payment if it exists and belongs to `ownerId`: another owner's payment is not found. */
export function findOwnedPayment(db: Db | Trx, ownerId: string, id: string): Promise<PaymentRow | undefined> {
  return db
    .selectFrom('payments')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
}

/** lockPaymentById, for the payment's owner only. */
export function lockOwnedPayment(trx: Trx, ownerId: string, id: string): Promise<PaymentRow | undefined> {
  return trx
    .selectFrom('payments')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/** A listed payment with `cursor_at`, its created_at to the microsecond (see encodeTimeCursor). */
export type ListedPayment = PaymentRow & { cursor_at: string };

/** Newest first, keyset-paginated on (created_at, id), at the column's full precision. */
export function listPayments(
  db: Db,
  filter: {
    ownerId: string;
    walletId?: string;
    status?: PaymentStatus;
    limit: number;
    before?: { createdAt: string; id: string };
  },
): Promise<ListedPayment[]> {
  let query = db
    .selectFrom('payments')
    .selectAll()
    .select(
      sql<string>`to_char(created_at at time zone 'UTC', ${sql.lit(CURSOR_TIME_FORMAT)})`.as('cursor_at'),
    );
  query = query.where('owner_id', '=', filter.ownerId);
  if (filter.walletId) query = query.where('wallet_id', '=', filter.walletId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.before) {
    const { createdAt, id } = filter.before;
    query = query.where(sql<boolean>`(created_at, id) < (${createdAt}::timestamptz, ${id}::uuid)`);
  }
  return query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit + 1)
    .execute();
}

/**
 * The payment's own events and the wallet events it caused (found by `data ->> 'payment_id'`), as
 * envelopes in commit order. Each side has its index (event_version_unique, and
 * events_wallet_payment_id from migration 0011): nothing else in the event store is read.
 */
export function paymentEventsQuery(ownerId: string, paymentId: string) {
  return sql<{ envelope: unknown }>`
    select event__envelope(e) as envelope from events e
     where (e.aggregate_id = ${paymentId}::uuid
            or (e.aggregate_type = 'wallet' and e.data ->> 'payment_id' = ${paymentId}))
       and exists (select 1 from payments p where p.id = ${paymentId}::uuid and p.owner_id = ${ownerId})
     order by e.position`;
}

/** Records what a step did; a step repeated by an at-least-once job records once. */
export async function recordStep(
  db: Db | Trx,
  step: {
    paymentId: string;
    name: string;
    status: string;
    attempt?: number;
    detail?: Record<string, unknown>;
  },
): Promise<void> {
  await db
    .insertInto('payment_steps')
    .values({
      payment_id: step.paymentId,
      name: step.name,
      status: step.status,
      attempt: step.attempt ?? 1,
      detail: step.detail ? JSON.stringify(step.detail) : null,
    })
    .onConflict((oc) => oc.constraint('payment_step_once_per_attempt').doNothing())
    .execute();
}

export function listSteps(db: Db, paymentIds: string[]): Promise<PaymentStepRow[]> {
  if (paymentIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('payment_steps')
    .selectAll()
    .where('payment_id', 'in', paymentIds)
    .orderBy('id')
    .execute();
}

export function listRefunds(db: Db, paymentIds: string[]): Promise<RefundRow[]> {
  if (paymentIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('refunds')
    .selectAll()
    .where('payment_id', 'in', paymentIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export function findRefundById(db: Db | Trx, id: string): Promise<RefundRow | undefined> {
  return db.selectFrom('refunds').selectAll().where('id', '=', id).executeTakeFirst();
}
