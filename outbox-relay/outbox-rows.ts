import type { OutboxMessage } from './kafka.ts';

/** One outbox row on its way to Kafka, with the size its record takes in a batch (what bounds count). */
export interface OutboxRow {
  outboxId: string;
  eventId: string;
  message: OutboxMessage;
  bytes: number;
}

/** An outbox row as the stream (pgoutput) or a query on the table gives it. */
export function toOutboxRow(row: Record<string, unknown>): OutboxRow {
  const headers = row.headers as Record<string, unknown>;
  const message: OutboxMessage = {
    topic: String(row.topic),
    key: String(row.key),
    value: JSON.stringify(row.payload),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
  };
  return { outboxId: String(row.id), eventId: String(row.event_id), message, bytes: recordBytes(message) };
}

/**
 * An upper bound of the record's size in a Kafka v2 record batch, before compression: key, value
 * and headers, plus the varints and attributes around them (at most 40 bytes per record and 10 per
 * header). Compression only makes the batch smaller.
 */
export function recordBytes(m: OutboxMessage): number {
  let bytes = 40 + Buffer.byteLength(m.key) + Buffer.byteLength(m.value);
  for (const [k, v] of Object.entries(m.headers)) bytes += 10 + Buffer.byteLength(k) + Buffer.byteLength(v);
  return bytes;
}
