import { stringify } from 'yaml';
import { z } from 'zod';
import { type AggregateType, type EventType, eventCatalogue, topicFor } from './catalogue.ts';

/**
 * Builds the AsyncAPI 3 document of the relayed stream from the event catalogue, so the published
 * description cannot drift from what the code can emit: `npm run asyncapi` writes docs/asyncapi.yaml, and a
 * test fails when the file differs from this output. Each event type is one message whose payload
 * is the envelope with that type's `data` schema; mokapi validates produced records against it.
 */
const envelopeDescription: Record<string, string> = {
  event_id: 'Unique id of the event; consumers deduplicate on it (delivery is at least once).',
  event_type: 'Dotted, lower case, past tense.',
  aggregate_type: 'wallet or payment.',
  aggregate_id: 'The wallet or payment id; also the Kafka message key, so one aggregate stays in order.',
  version: "The aggregate's version after this event: 1, 2, 3, ... without gaps.",
  occurred_at: 'Commit-time timestamp, ISO 8601 UTC with microseconds.',
  trace_id: 'W3C trace id of the request that caused the event.',
};

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** The envelope of one event type: the schema a record of that type must match. */
function envelopeSchemaFor(type: EventType) {
  const entry = eventCatalogue[type];
  const aggregateType: AggregateType = entry.aggregateType;
  return {
    title: type,
    type: 'object',
    additionalProperties: false,
    required: [
      'event_id',
      'event_type',
      'aggregate_type',
      'aggregate_id',
      'version',
      'occurred_at',
      'trace_id',
      'data',
    ],
    properties: {
      event_id: { type: 'string', format: 'uuid', description: envelopeDescription.event_id },
      event_type: { type: 'string', enum: [type], description: envelopeDescription.event_type },
      aggregate_type: {
        type: 'string',
        enum: [aggregateType],
        description: envelopeDescription.aggregate_type,
      },
      aggregate_id: { type: 'string', format: 'uuid', description: envelopeDescription.aggregate_id },
      version: { type: 'integer', minimum: 1, description: envelopeDescription.version },
      occurred_at: { type: 'string', format: 'date-time', description: envelopeDescription.occurred_at },
      trace_id: { type: 'string', minLength: 1, description: envelopeDescription.trace_id },
      data: jsonSchemaOf(entry.data),
    },
  };
}

const HEADERS_NOTE =
  'Kafka headers (strings): event_id, event_type, trace_id, as in the payload; when the writing transaction was ' +
  'traced, also the W3C traceparent: the relay span that published the message (or, with the relay not ' +
  'tracing, the writing span); a consumer continues the trace from it. ' +
  'The key is the aggregate id.';

/**
 * One message per topic whose payload is any of that topic's event envelopes (mokapi validates a
 * record against the channel's message; with several messages per channel it does not).
 */
export function buildAsyncApiDocument(options: { partitions?: number; server?: string } = {}) {
  const types = Object.keys(eventCatalogue).sort() as EventType[];
  const byAggregate = (aggregate: AggregateType) =>
    types.filter((t) => eventCatalogue[t].aggregateType === aggregate);
  const messageName = (aggregate: AggregateType) =>
    aggregate === 'payment' ? 'PaymentEvent' : 'WalletEvent';
  const message = (aggregate: AggregateType) => ({
    name: messageName(aggregate),
    title: `${aggregate} event`,
    summary: `Any ${aggregate} event: ${byAggregate(aggregate).join(', ')}.`,
    description: HEADERS_NOTE,
    contentType: 'application/json',
    payload: { anyOf: byAggregate(aggregate).map((t) => ({ $ref: `#/components/schemas/${t}` })) },
    bindings: { kafka: { key: { type: 'string', format: 'uuid' } } },
  });
  const channel = (aggregate: AggregateType) => ({
    address: topicFor(aggregate),
    description: `Every ${aggregate} event, keyed by ${aggregate} id, in version order per key.`,
    messages: { [messageName(aggregate)]: { $ref: `#/components/messages/${messageName(aggregate)}` } },
    bindings: { kafka: { partitions: options.partitions ?? 3 } },
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Wallet payments event stream',
      version: '1.0.0',
      description:
        'Business events relayed from the transactional outbox by logical replication. At least once: ' +
        'deduplicate by event_id. Per-key order: the key is the aggregate id. Generated from ' +
        'app/events/catalogue.ts by `npm run asyncapi`; do not edit by hand.',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: options.server ?? '127.0.0.1:9092',
        protocol: 'kafka',
        description: 'npm start (mokapi)',
      },
    },
    channels: { paymentsEvents: channel('payment'), walletsEvents: channel('wallet') },
    operations: {
      publishPaymentEvents: {
        action: 'send',
        channel: { $ref: '#/channels/paymentsEvents' },
        messages: [{ $ref: '#/channels/paymentsEvents/messages/PaymentEvent' }],
      },
      publishWalletEvents: {
        action: 'send',
        channel: { $ref: '#/channels/walletsEvents' },
        messages: [{ $ref: '#/channels/walletsEvents/messages/WalletEvent' }],
      },
    },
    components: {
      messages: { PaymentEvent: message('payment'), WalletEvent: message('wallet') },
      schemas: Object.fromEntries(types.map((t) => [t, envelopeSchemaFor(t)])),
    },
  };
}

const HEADER = '# Generated from app/events/catalogue.ts by `npm run asyncapi`. Do not edit by hand.\n';

/** The text of docs/asyncapi.yaml. */
export function renderAsyncApiYaml(): string {
  return HEADER + stringify(buildAsyncApiDocument(), { lineWidth: 0, aliasDuplicateObjects: false });
}
