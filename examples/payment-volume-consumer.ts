import { Kafka, logLevel } from 'kafkajs';

/**
 * A downstream consumer, as an analytics team would write one: reads payments.events in a
 * consumer group, drops duplicates by event_id (the stream is at least once), and keeps the
 * completed payment volume per minute and currency.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node examples/payment-volume-consumer.ts
 *
 * The seen-set lives in memory here; a real consumer keeps it (or the aggregates) in a store that
 * commits together with its offsets.
 */
export interface VolumeRow {
  minute: string;
  currency: string;
  payments: number;
  amount: number;
}

export function createPaymentVolumeConsumer(options: {
  brokers: string[];
  groupId: string;
  clientId?: string;
}) {
  const kafka = new Kafka({
    clientId: options.clientId ?? 'payment-volume',
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: options.groupId, heartbeatInterval: 1000 });
  const seen = new Set<string>();
  const volume = new Map<string, VolumeRow>();
  let duplicates = 0;
  let consumed = 0;

  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topic: 'payments.events', fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          consumed++;
          const event = JSON.parse(message.value?.toString() ?? '{}') as {
            event_id: string;
            event_type: string;
            occurred_at: string;
            data: { amount?: number; currency?: string };
          };
          if (seen.has(event.event_id)) {
            duplicates++;
            return;
          }
          seen.add(event.event_id);
          if (event.event_type !== 'payment.completed' || !event.data.currency || !event.data.amount) return;
          const minute = `${event.occurred_at.slice(0, 16)}Z`;
          const key = `${minute}|${event.data.currency}`;
          const row = volume.get(key) ?? { minute, currency: event.data.currency, payments: 0, amount: 0 };
          row.payments += 1;
          row.amount += event.data.amount;
          volume.set(key, row);
        },
      });
    },
    snapshot() {
      return {
        consumed,
        unique: seen.size,
        duplicates,
        volume: [...volume.values()].sort(
          (a, b) => a.minute.localeCompare(b.minute) || a.currency.localeCompare(b.currency),
        ),
      };
    },
    stop: () => consumer.disconnect(),
  };
}

if (process.argv[1]?.endsWith('payment-volume-consumer.ts')) {
  const consumer = createPaymentVolumeConsumer({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    groupId: process.env.GROUP_ID ?? 'payment-volume-example',
  });
  await consumer.start();
  const timer = setInterval(() => {
    const s = consumer.snapshot();
    process.stdout.write(`consumed ${s.consumed}, unique ${s.unique}, duplicates ${s.duplicates}\n`);
    console.table(s.volume);
  }, 5000);
  process.once('SIGINT', async () => {
    clearInterval(timer);
    await consumer.stop();
    process.exit(0);
  });
}
