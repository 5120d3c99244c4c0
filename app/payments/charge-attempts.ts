import { type Selectable, sql } from 'kysely';
import type { Db, Trx } from '../db/database.ts';
import type { ChargeAttemptStatus, ChargeAttemptTable, Provider } from '../db/types.ts';
import { AppError } from '../errors.ts';
import type { PaymentEvent } from './payment.aggregate.ts';
import type { PaymentRow } from './payment.repository.ts';

/**
 * Charge attempts at the gateway (db/migrations/0009_charge_attempts.sql): one row per attempt,
 * recorded before its first request, and the transitions that settle it. Every function that
 * changes an attempt takes `trx`, whose transaction holds the payment's row lock, and returns the
 * payment events the change implies; the caller appends them with the payment's transition.
 */
export type ChargeAttempt = Selectable<ChargeAttemptTable>;
export type ChargeSource = 'answer' | 'webhook' | 'poll' | 'lookup' | 'cancel';

export const PROVIDERS: readonly Provider[] = ['alpha', 'beta'];
export const attemptKey = (paymentId: string, provider: Provider) => `${paymentId}:${provider}`;

/** A charge as the gateway reports it (answer, poll, lookup or webhook). */
export interface ReportedCharge {
  id: string;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
  amount?: number;
  currency?: string;
  reference?: string;
  decline_code?: string | null;
}

/** The gateway reported a charge that is not the payment's: never applied, never completed. */
export class GatewayAnswerMismatch extends AppError {
  readonly provider: Provider;
  readonly paymentId: string;
  readonly differences: string[];

  constructor(provider: Provider, paymentId: string, differences: string[]) {
    super(
      422,
      'GATEWAY_ANSWER_MISMATCH',
      'Gateway answer does not match the payment',
      `${provider}'s charge for payment ${paymentId} differs: ${differences.join('; ')}.`,
    );
    this.provider = provider;
    this.paymentId = paymentId;
    this.differences = differences;
  }
}

/**
 * Throws GatewayAnswerMismatch unless amount, currency and reference are the payment's (and the
 * charge is the one asked about, when `expectedId` is given).
 */
export function checkChargeMatches(
  payment: PaymentRow,
  provider: Provider,
  charge: ReportedCharge,
  expectedId?: string,
): void {
  const differences: string[] = [];
  if (expectedId !== undefined && charge.id !== expectedId)
    differences.push(`charge ${charge.id} != ${expectedId}`);
  if (charge.amount !== payment.amount) differences.push(`amount ${charge.amount} != ${payment.amount}`);
  if (charge.currency !== payment.currency)
    differences.push(`currency ${charge.currency} != ${payment.currency}`);
  if (charge.reference !== payment.id) differences.push(`reference ${charge.reference} != ${payment.id}`);
  if (differences.length > 0) throw new GatewayAnswerMismatch(provider, payment.id, differences);
}

export function listAttempts(db: Db | Trx, paymentId: string): Promise<ChargeAttempt[]> {
  return db
    .selectFrom('charge_attempts')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .orderBy('id')
    .execute();
}

export function findAttemptByChargeId(
  trx: Db | Trx,
  provider: Provider,
  chargeId: string,
): Promise<ChargeAttempt | undefined> {
  return trx
    .selectFrom('charge_attempts')
    .selectAll()
    .where('provider', '=', provider)
    .where('gateway_charge_id', '=', chargeId)
    .executeTakeFirst();
}

/** One attempt of the payment, read again (on `trx` holding the payment's lock, it is current). */
export function findAttempt(db: Db | Trx, paymentId: string, id: number): Promise<ChargeAttempt | undefined> {
  return db
    .selectFrom('charge_attempts')
    .selectAll()
    .where('id', '=', id)
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
}

/** Settled at the gateway: no report of another status moves it (but see recordSucceededAfterAll). */
export const isFinal = (a: ChargeAttempt) =>
  a.status === 'succeeded' || a.status === 'failed' || a.status === 'canceled';

/** The charge a COMPLETED (or refunded) payment keeps: our succeeded attempt at its provider. */
export const keptCharge = (payment: Pick<PaymentRow, 'provider'>, attempts: ChargeAttempt[]) =>
  attempts.find(
    (a) => a.idempotency_key !== null && a.provider === payment.provider && a.status === 'succeeded',
  );

/**
 * Records a new attempt at `provider`, before its first request: status unknown, one call
 * counted. Returns undefined if the payment already has an attempt there.
 */
export async function recordNewAttempt(
  trx: Trx,
  payment: PaymentRow,
  provider: Provider,
): Promise<ChargeAttempt | undefined> {
  return trx
    .insertInto('charge_attempts')
    .values({
      payment_id: payment.id,
      provider,
      idempotency_key: attemptKey(payment.id, provider),
      amount: payment.amount,
      currency: payment.currency,
      status: 'unknown',
      calls: 1,
    })
    .onConflict((oc) => oc.columns(['provider', 'idempotency_key']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Counts one more call with the attempt's key, committed before that call is sent. */
export async function recordCall(trx: Trx, attempt: ChargeAttempt): Promise<ChargeAttempt> {
  return trx
    .updateTable('charge_attempts')
    .set({ calls: sql<number>`calls + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', attempt.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A call with the attempt's key ended without an answer. `proven`: it was refused before any
 * processing (connection refused, a 4xx, `processed: false`, an open breaker). The attempt becomes
 * not_created only when every call ever made with its key was refused so; otherwise it stays
 * unknown, and the saga waits for an answer rather than guess. (A 4xx to a later call proves
 * nothing about an earlier one: a gateway answers 404 or 401 for reasons that have nothing to do
 * with the key.)
 */
export async function recordUnanswered(
  trx: Trx,
  attempt: ChargeAttempt,
  call: { proven: boolean; error: string },
): Promise<{ attempt: ChargeAttempt; events: PaymentEvent[] }> {
  const refused = attempt.refused_calls + (call.proven ? 1 : 0);
  const notCreated = attempt.status === 'unknown' && call.proven && refused >= attempt.calls;
  const updated = await trx
    .updateTable('charge_attempts')
    .set({
      refused_calls: Math.min(refused, attempt.calls),
      status: notCreated ? 'not_created' : attempt.status,
      settled_by: notCreated ? 'answer' : attempt.settled_by,
      last_error: call.error.slice(0, 500),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', attempt.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const events: PaymentEvent[] = notCreated
    ? [
        {
          type: 'payment.charge_failed',
          data: {
            provider: attempt.provider,
            charge_id: null,
            outcome: 'unavailable',
            decline_code: null,
            error: call.error.slice(0, 500),
          },
        },
      ]
    : [];
  return { attempt: updated, events };
}

/**
 * The gateway reported the attempt's charge: records its id (first time: payment.charge_requested)
 * and its status (payment.charge_succeeded or payment.charge_failed on a final one). A report that
 * would move a final status backwards is ignored. The caller has checked the charge matches.
 */
export async function recordReported(
  trx: Trx,
  attempt: ChargeAttempt,
  charge: ReportedCharge,
  source: ChargeSource,
): Promise<{ attempt: ChargeAttempt; events: PaymentEvent[] }> {
  const events: PaymentEvent[] = [];
  if (isFinal(attempt)) return { attempt, events };
  // A charge we never asked for has no saga events of its own: only its money matters (stray).
  const ours = attempt.idempotency_key !== null;
  if (ours && attempt.gateway_charge_id === null) {
    events.push({
      type: 'payment.charge_requested',
      data: {
        provider: attempt.provider,
        charge_id: charge.id,
        amount: attempt.amount,
        currency: attempt.currency,
      },
    });
  }
  const status: ChargeAttemptStatus = charge.status;
  if (!ours) {
    // nothing to announce
  } else if (status === 'succeeded') {
    events.push({
      type: 'payment.charge_succeeded',
      data: { provider: attempt.provider, charge_id: charge.id, source },
    });
  } else if (status === 'failed' || status === 'canceled') {
    events.push({
      type: 'payment.charge_failed',
      data: {
        provider: attempt.provider,
        charge_id: charge.id,
        outcome: status === 'failed' ? 'declined' : 'canceled',
        decline_code: status === 'failed' ? (charge.decline_code ?? null) : null,
        error: null,
      },
    });
  }
  const updated = await trx
    .updateTable('charge_attempts')
    .set({
      gateway_charge_id: charge.id,
      status,
      settled_by: status === 'pending' ? attempt.settled_by : source,
      decline_code: status === 'failed' ? (charge.decline_code ?? null) : null,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', attempt.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return { attempt: updated, events };
}

/**
 * A charge the gateway has for this payment that we never asked for (found by a webhook or a
 * lookup): recorded so that, if it took money, the money goes back.
 */
export async function recordDiscovered(
  trx: Trx,
  payment: PaymentRow,
  provider: Provider,
  charge: ReportedCharge,
): Promise<ChargeAttempt> {
  return trx
    .insertInto('charge_attempts')
    .values({
      payment_id: payment.id,
      provider,
      idempotency_key: null,
      gateway_charge_id: charge.id,
      amount: charge.amount ?? payment.amount,
      currency: charge.currency ?? payment.currency,
      status: 'unknown',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The gateway reports a success for a charge we recorded as declined or canceled (found by the
 * reconciliation): the money is there after all. No saga event of its own: the decider then sees a
 * success nobody keeps, which is stray money.
 */
export async function recordSucceededAfterAll(trx: Trx, attempt: ChargeAttempt): Promise<ChargeAttempt> {
  return trx
    .updateTable('charge_attempts')
    .set({ status: 'succeeded', settled_by: 'lookup', updated_at: sql<Date>`now()` })
    .where('id', '=', attempt.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks a succeeded charge as stray money (to be refunded at the gateway). */
export async function markStray(
  trx: Trx,
  attempt: ChargeAttempt,
  source: ChargeSource,
): Promise<PaymentEvent[]> {
  if (attempt.stray_detected_at !== null || attempt.status !== 'succeeded' || !attempt.gateway_charge_id)
    return [];
  await trx
    .updateTable('charge_attempts')
    .set({ stray_detected_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', attempt.id)
    .execute();
  return [
    {
      type: 'payment.stray_charge_detected',
      data: {
        provider: attempt.provider,
        charge_id: attempt.gateway_charge_id,
        amount: attempt.amount,
        currency: attempt.currency,
        source,
      },
    },
  ];
}

export async function countPoll(trx: Trx, attempt: ChargeAttempt, error: string | null): Promise<number> {
  const row = await trx
    .updateTable('charge_attempts')
    .set({
      polls: sql<number>`polls + 1`,
      last_error: error ? error.slice(0, 500) : attempt.last_error,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', attempt.id)
    .returning('polls')
    .executeTakeFirstOrThrow();
  return row.polls;
}
