import { z } from 'zod';

/**
 * Every event type the system writes, with the schema of its `data`. Events are validated against
 * this catalogue when written (app/events/record-event.ts); docs/asyncapi.yaml describes the same
 * types for Kafka consumers. Names are dotted lower case, past tense.
 */
const money = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const balance = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[A-Z]{3}$/);
const provider = z.enum(['alpha', 'beta']);
const failureReason = z.enum([
  'FRAUD_SUSPECTED',
  'INSUFFICIENT_FUNDS',
  'GATEWAY_DECLINED',
  'GATEWAY_UNAVAILABLE',
]);
/** Who told us how a charge ended: its answer, a webhook, a poll, a lookup by reference, a cancel's 409. */
const chargeSource = z.enum(['answer', 'webhook', 'poll', 'lookup', 'cancel']);
const walletMovement = {
  entry_id: z.uuid(),
  payment_id: z.uuid(),
  amount: money,
  currency,
  balance_after: balance,
};

export const eventCatalogue = {
  'wallet.created': {
    aggregateType: 'wallet',
    data: z.strictObject({ owner_id: z.string().min(1).max(128), currency }),
  },
  'wallet.deposited': {
    aggregateType: 'wallet',
    data: z.strictObject({
      entry_id: z.uuid(),
      amount: money,
      currency,
      balance_after: balance,
      reference: z.string().nullable(),
    }),
  },
  'wallet.debited': { aggregateType: 'wallet', data: z.strictObject(walletMovement) },
  'wallet.debit_reversed': { aggregateType: 'wallet', data: z.strictObject(walletMovement) },
  'wallet.refund_credited': {
    aggregateType: 'wallet',
    data: z.strictObject({ ...walletMovement, refund_id: z.uuid() }),
  },
  'payment.requested': {
    aggregateType: 'payment',
    data: z.strictObject({
      wallet_id: z.uuid(),
      service_id: z.string().min(1).max(128),
      amount: money,
      currency,
      method: z.literal('balance'),
      description: z.string().max(500).nullable(),
      metadata: z.record(z.string(), z.string()),
    }),
  },
  'payment.fraud_checked': {
    aggregateType: 'payment',
    data: z.strictObject({
      approved: z.boolean(),
      score: z.number().int().min(0).max(100),
      reasons: z.array(z.string()),
    }),
  },
  'payment.wallet_debited': {
    aggregateType: 'payment',
    data: z
      .strictObject({ wallet_id: z.uuid(), entry_id: z.uuid(), amount: money, currency })
      .describe(
        "The payment's amount was taken from its wallet (the wallet's own wallet.debited has the same entry_id); the payment is PROCESSING and its charge comes next.",
      ),
  },
  'payment.charge_requested': {
    aggregateType: 'payment',
    data: z.strictObject({ provider, charge_id: z.string().min(1), amount: money, currency }),
  },
  'payment.charge_succeeded': {
    aggregateType: 'payment',
    data: z.strictObject({ provider, charge_id: z.string().min(1), source: chargeSource }),
  },
  'payment.charge_failed': {
    aggregateType: 'payment',
    data: z.strictObject({
      provider,
      charge_id: z.string().min(1).nullable(),
      // declined by the gateway; unavailable: refused before any charge was made; canceled by us at
      // the deadline while still pending.
      outcome: z.enum(['declined', 'unavailable', 'canceled']),
      decline_code: z.string().nullable(),
      error: z
        .string()
        .nullable()
        .describe(
          'Why the call failed, in our words ("gateway answered 503", "connection refused", "circuit open"); never the gateway\'s own answer, which only the worker log keeps.',
        ),
    }),
  },
  'payment.completed': {
    aggregateType: 'payment',
    data: z.strictObject({ provider, amount: money, currency }),
  },
  'payment.rejected': {
    aggregateType: 'payment',
    data: z.strictObject({ reason: failureReason }),
  },
  'payment.failed': {
    aggregateType: 'payment',
    data: z.strictObject({ reason: failureReason, refunded_to_wallet: money }),
  },
  'payment.refund_requested': {
    aggregateType: 'payment',
    data: z.strictObject({ refund_id: z.uuid(), amount: money, reason: z.string().nullable() }),
  },
  'payment.refund_failed': {
    aggregateType: 'payment',
    data: z
      .strictObject({
        refund_id: z.uuid(),
        amount: money,
        reason: z
          .string()
          .min(1)
          .describe(
            'In our words, never the gateway\'s: "refused by <provider>: gateway answered 422", "unreachable by <provider>: connection refused".',
          ),
      })
      .describe(
        'The gateway refused the refund, or could not be reached; its amount is free to refund again.',
      ),
  },
  // Money the gateway took that no payment keeps (a success after the payment failed, a second
  // success, a charge we never asked for): found, then given back at the gateway.
  'payment.stray_charge_detected': {
    aggregateType: 'payment',
    data: z
      .strictObject({
        provider,
        charge_id: z.string().min(1),
        amount: money,
        currency,
        source: chargeSource,
      })
      .describe('A charge that took money no payment keeps; it is refunded at the gateway.'),
  },
  'payment.stray_charge_refunded': {
    aggregateType: 'payment',
    data: z
      .strictObject({
        provider,
        charge_id: z.string().min(1),
        refund_id: z.string().min(1),
        amount: money,
      })
      .describe('The stray charge was refunded in full at the gateway.'),
  },
  'payment.refunded': {
    aggregateType: 'payment',
    data: z.strictObject({
      refund_id: z.uuid(),
      amount: money,
      refunded_amount: money,
      status: z.enum(['PARTIALLY_REFUNDED', 'REFUNDED']),
    }),
  },
} as const satisfies Record<string, { aggregateType: AggregateType; data: z.ZodType }>;

export type AggregateType = 'wallet' | 'payment';
export type EventType = keyof typeof eventCatalogue;
export type EventData<T extends EventType> = z.input<(typeof eventCatalogue)[T]['data']>;

/** The envelope as it is stored in the outbox and produced to Kafka (docs/asyncapi.yaml). */
export interface EventEnvelope {
  event_id: string;
  event_type: EventType;
  aggregate_type: AggregateType;
  aggregate_id: string;
  version: number;
  occurred_at: string;
  trace_id: string;
  data: Record<string, unknown>;
}

export const topicFor = (aggregateType: AggregateType) => `${aggregateType}s.events` as const;
