import {
  contextFrom,
  currentTraceparent,
  failSpan,
  SpanKind,
  trace,
  traceContext,
  tracer,
  tracingEnabled,
} from '../app/observability/tracing.ts';
import type { OutboxMessage } from './kafka.ts';
import type { OutboxRow } from './outbox-rows.ts';

export interface PublishSpans {
  /** The messages to send: each traced row's `traceparent` header now names its publish span. */
  messages: OutboxMessage[];
  /** Ends the spans, as failed when the send failed. */
  end(err?: unknown): void;
}

/**
 * A PRODUCER span per traced row (one whose writing transaction left a `traceparent` header), a
 * child of that header's span, so a payment's trace ends at its Kafka messages and a consumer
 * continues it from the header. The rows are left as they are: a send that fails and is retried
 * starts new spans from the original parents.
 */
export function startPublishSpans(rows: OutboxRow[]): PublishSpans {
  if (!tracingEnabled()) return { messages: rows.map((r) => r.message), end: () => {} };
  const spans: ReturnType<typeof tracer.startSpan>[] = [];
  const messages = rows.map(({ message, eventId }) => {
    if (!message.headers.traceparent) return message;
    const parent = contextFrom(message.headers.traceparent, traceContext.active());
    const span = tracer.startSpan(
      `${message.topic} publish`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.destination.name': message.topic,
          'messaging.message.id': eventId,
          'messaging.kafka.message.key': message.key,
        },
      },
      parent,
    );
    spans.push(span);
    const traceparent = currentTraceparent(trace.setSpan(parent, span)) ?? message.headers.traceparent;
    return { ...message, headers: { ...message.headers, traceparent } };
  });
  return {
    messages,
    end(err) {
      for (const span of spans) {
        if (err !== undefined) failSpan(span, err);
        span.end();
      }
    },
  };
}
