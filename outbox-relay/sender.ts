import type { Publisher } from './kafka.ts';
import { relayBatchesTotal, relayEventsTotal, relaySendBytes } from './metrics.ts';
import type { OutboxRow } from './outbox-rows.ts';
import { startPublishSpans } from './publish-spans.ts';
import type { SetAside } from './quarantine.ts';

export interface SendBounds {
  /** Rows per send. */
  maxRows: number;
  /** Record bytes per send (recordBytes), so no partition's record batch can be larger. */
  maxBytes: number;
  /** A row larger than this alone is set aside, never sent. */
  maxMessageBytes: number;
}

export interface Sender {
  /**
   * Puts the rows on Kafka in order, in sends within the bounds (a row over maxBytes but within
   * maxMessageBytes goes alone). A row over maxMessageBytes, or one the broker refuses as too
   * large, is set aside instead. Resolves, with how many went to Kafka, when every row is on Kafka
   * or set aside; rejects on any other failure, and the caller then acknowledges none of them.
   */
  sendAll(rows: OutboxRow[]): Promise<{ sent: number }>;
}

export function createSender(publisher: Publisher, setAside: SetAside, bounds: SendBounds): Sender {
  /**
   * One send; a refusal for size splits it in halves, down to the single row that is set aside.
   * Resolves with how many rows went to Kafka.
   */
  async function deliver(rows: OutboxRow[]): Promise<number> {
    const spans = startPublishSpans(rows);
    try {
      await publisher.send(spans.messages);
      spans.end();
    } catch (err) {
      spans.end(err);
      const refusal = tooLargeRefusal(err);
      if (!refusal) throw err;
      if (rows.length === 1) {
        await setAside(rows, 'broker_refused_too_large', refusal);
        return 0;
      }
      // Parts of the refused request may have been written: sending them again only duplicates.
      const half = Math.ceil(rows.length / 2);
      return (await deliver(rows.slice(0, half))) + (await deliver(rows.slice(half)));
    }
    relayBatchesTotal.inc();
    relaySendBytes.observe(rows.reduce((sum, r) => sum + r.bytes, 0));
    for (const r of rows) relayEventsTotal.inc({ topic: r.message.topic });
    return rows.length;
  }

  return {
    async sendAll(rows) {
      const tooLarge = rows.filter((r) => r.bytes > bounds.maxMessageBytes);
      if (tooLarge.length > 0) {
        await setAside(
          tooLarge,
          'message_too_large',
          `larger than RELAY_MESSAGE_MAX_BYTES (${bounds.maxMessageBytes})`,
        );
      }
      let sent = 0;
      for (const send of chunks(
        rows.filter((r) => r.bytes <= bounds.maxMessageBytes),
        bounds,
      )) {
        sent += await deliver(send);
      }
      return { sent };
    },
  };
}

/** Consecutive runs of rows within maxRows and maxBytes; a row over maxBytes is a run of its own. */
export function chunks(rows: OutboxRow[], bounds: Pick<SendBounds, 'maxRows' | 'maxBytes'>): OutboxRow[][] {
  const out: OutboxRow[][] = [];
  let current: OutboxRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    if (current.length > 0 && (current.length >= bounds.maxRows || bytes + row.bytes > bounds.maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += row.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** kafkajs wraps the broker's error (KafkaJSNonRetriableError, cause ...): find a size refusal in the chain. */
function tooLargeRefusal(err: unknown): string | undefined {
  for (
    let e = err as { type?: string; message?: string; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE')
      return `${e.type}: ${e.message}`;
    e = e.cause as typeof e;
  }
  return undefined;
}
