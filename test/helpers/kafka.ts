import { Kafka, logLevel } from 'kafkajs';
import { type LocalBroker, startLocalBroker } from '../../outbox-relay/local-broker.ts';
import { freePorts, waitFor } from './processes.ts';

/** A mokapi broker of the test's own, on free ports, loading docs/asyncapi.yaml. */
export async function startTestBroker(): Promise<LocalBroker> {
  // Ports are free when chosen, not when mokapi binds them (other test files run alongside):
  // startLocalBroker proves it reached *our* broker, and a collision just means new ports.
  for (let attempt = 1; ; attempt++) {
    const [port, apiPort] = await freePorts(2);
    try {
      return await startLocalBroker({ port: port as number, apiPort: apiPort as number });
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  value: {
    event_id: string;
    event_type: string;
    aggregate_id: string;
    version: number;
    [k: string]: unknown;
  };
}

/**
 * Reads both topics from the beginning with a fresh consumer group until `done(messages)` holds,
 * in partition order (which is what per-key order means).
 */
export async function consumeUntil(
  brokers: string,
  done: (messages: ConsumedMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<ConsumedMessage[]> {
  const deadline = Date.now() + timeoutMs;
  // A reader that loses the broker (a refused connection under load) starts over with a new group:
  // reading from the beginning again, it still sees every message.
  for (;;) {
    try {
      return await consumeOnce(brokers, done, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      const refused = /ECONNREFUSED|Connection error|NumberOfRetriesExceeded/.test(
        String((err as Error)?.message ?? err),
      );
      if (!refused || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function consumeOnce(
  brokers: string,
  done: (messages: ConsumedMessage[]) => boolean,
  timeoutMs: number,
): Promise<ConsumedMessage[]> {
  const kafka = new Kafka({ clientId: 'test-reader', brokers: [brokers], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    heartbeatInterval: 500,
  });
  const messages: ConsumedMessage[] = [];
  let crashed: unknown;
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = e.payload.error;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: ['payments.events', 'wallets.events'], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        messages.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? '',
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']),
          ),
          value: JSON.parse(message.value?.toString() ?? 'null'),
        });
      },
    });
    await waitFor(
      `Kafka messages (have ${messages.length})`,
      async () => crashed !== undefined || done(messages),
      timeoutMs,
      200,
    );
    if (crashed) throw crashed;
    return [...messages];
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** First delivery of each event_id, and how many deliveries were duplicates. */
export function dedupe(messages: ConsumedMessage[]) {
  const seen = new Map<string, ConsumedMessage>();
  for (const m of messages) if (!seen.has(m.value.event_id)) seen.set(m.value.event_id, m);
  return { unique: [...seen.values()], duplicates: messages.length - seen.size };
}

/** Per key, the versions in the order they were consumed (first deliveries only). */
export function versionsByKey(messages: ConsumedMessage[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const m of dedupe(messages).unique) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.value.version]);
  return byKey;
}
