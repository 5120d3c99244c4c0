import { z } from 'zod';

/**
 * Every event type the system writes, with the schema of its `data`. Events are validated against
 * this catalogue when written (app/events/record-event.ts); docs/asyncapi.yaml describes the same
 * types for Kafka consumers. Names are dotted lower case, past tense.
 */
const money = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const balance = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const currency = z.string().regex(/^[A-Z]{3}$/);

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
} as const satisfies Record<string, { aggregateType: AggregateType; data: z.ZodType }>;

export type AggregateType = 'wallet' | 'payment';
export type EventType = keyof typeof eventCatalogue;
export type EventData<T extends EventType> = z.input<(typeof eventCatalogue)[T]['data']>;

/** The envelope as it is stored in the outbox and produced to Kafka (API contract). */
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
