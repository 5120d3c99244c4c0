import { CompressionTypes, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '../app/observability/logger.ts';

/**
 * The Kafka side of the relay, behind a small interface (so another client can replace kafkajs
 * for a real broker later). kafkajs: the one client found to work fully against mokapi (produce,
 * consumer groups, createTopics; docs/decisions.md); idempotent producer, acks from all in-sync replicas, one request in
 * flight so a retried batch cannot overtake the next one (per-partition order holds).
 */
export interface OutboxMessage {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

export interface Publisher {
  send(messages: OutboxMessage[]): Promise<void>;
  close(): Promise<void>;
}

export const TOPICS = ['payments.events', 'wallets.events'] as const;

export function createKafka(brokers: string[], clientId: string, logger: Logger): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 100, maxRetryTime: 2000 },
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      if (entry.level <= logLevel.ERROR) logger.error({ kafka: rest, namespace: entry.namespace }, message);
      else logger.warn({ kafka: rest, namespace: entry.namespace }, message);
    },
  });
}

/** Creates the topics that are missing (idempotent); partitions only apply to new topics. */
export async function ensureTopics(kafka: Kafka, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = TOPICS.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: -1 })),
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * GZIP is the codec kafkajs carries itself (snappy, lz4 and zstd need native or extra packages).
 * Record batches are compressed per partition; the relay's byte bounds count uncompressed bytes,
 * so a compressed batch is only smaller.
 */
export type Compression = 'none' | 'gzip';

export async function createPublisher(
  kafka: Kafka,
  options: { idempotent: boolean; compression: Compression },
): Promise<Publisher> {
  const producer: Producer = kafka.producer({
    idempotent: options.idempotent,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return {
    async send(messages) {
      const byTopic = new Map<string, OutboxMessage[]>();
      for (const m of messages) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
      await producer.sendBatch({
        acks: -1,
        compression: options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        })),
      });
    },
    close: () => producer.disconnect(),
  };
}
