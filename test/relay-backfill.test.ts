import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../app/observability/logger.ts';
import { backfillIfNeeded } from '../outbox-relay/backfill.ts';
import { createKafka, createPublisher, ensureTopics, type Publisher, TOPICS } from '../outbox-relay/kafka.ts';
import { quarantineIn } from '../outbox-relay/quarantine.ts';
import { createSender, type Sender } from '../outbox-relay/sender.ts';
import type { LocalBroker } from '../scripts/lib/local-broker.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { consumeUntil, startTestBroker, versionsByKey } from './helpers/kafka.ts';

/**
 * The backfill reads the outbox in pages while payments go on. Two things keep it from sending an
 * aggregate's versions out of order or losing one (chaos once found Kafka holding v30 before v29):
 * it first waits for every transaction running when it starts (one of them may hold a low id, and
 * its commit may be too early for the slot to stream it), then reads every page from one snapshot,
 * so rows committed while it sends come from the slot alone, in commit order. Here both moments are
 * forced: a transaction holds the lowest id when the backfill starts, and rows commit while the
 * first page is being sent.
 */
let database: TestDatabase;
let broker: LocalBroker;
let publisher: Publisher;
const logger = createLogger('silent');

beforeAll(async () => {
  [database, broker] = await Promise.all([createTestDatabase(), startTestBroker()]);
  const kafka = createKafka([broker.brokers], 'backfill-test', logger);
  await ensureTopics(kafka, 2);
  publisher = await createPublisher(kafka, { idempotent: false, compression: 'none' });
});
afterAll(async () => {
  await publisher?.close();
  await database?.drop();
  await broker?.stop();
});

async function deposit(client: pg.Client | pg.Pool, walletId: string, version: number) {
  await client.query(
    `select event__append(gen_random_uuid(), 'wallet', $1, $2, 'wallet.deposited',
       jsonb_build_object('entry_id', gen_random_uuid(), 'amount', 1, 'currency', 'USD',
                          'balance_after', $3::int, 'reference', 'backfill-test'), 'backfill-test')`,
    [walletId, version - 1, version],
  );
}

it('waits for transactions in flight, then sends one snapshot: nothing committed while it sends', async () => {
  const [held, other1, other2, other3, late] = [
    randomUUID(),
    randomUUID(),
    randomUUID(),
    randomUUID(),
    randomUUID(),
  ];
  // A transaction takes the lowest outbox id (held's v1) and stays open; three rows commit after it.
  const slow = new pg.Client({ connectionString: database.url });
  await slow.connect();
  try {
    await slow.query('begin');
    await deposit(slow, held, 1);
    for (const w of [other1, other2, other3]) await deposit(database.pool, w, 1);

    const real = createSender(publisher, quarantineIn(database.pool, logger), {
      maxRows: 100,
      maxBytes: 1_000_000,
      maxMessageBytes: 100_000,
    });
    const pages: string[][] = [];
    const sender: Sender = {
      async sendAll(rows) {
        pages.push(rows.map((r) => r.message.key));
        // While the first page is being sent: held's next version and a new aggregate commit.
        if (pages.length === 1) {
          await deposit(database.pool, held, 2);
          await deposit(database.pool, late, 1);
        }
        return real.sendAll(rows);
      },
    };
    const backfill = backfillIfNeeded(database.pool, sender, {
      slot: 'backfill_test',
      instanceId: 'test',
      slotCreated: true,
      overlapSeconds: 10,
      logger,
      chunk: 2,
    });
    // Nothing is read while the transaction holding the lowest id is open.
    await new Promise((r) => setTimeout(r, 500));
    expect(pages).toEqual([]);
    await slow.query('commit');
    const published = await backfill;

    // Every row of the snapshot, in id order, over two pages; nothing committed after it.
    expect(pages).toEqual([
      [held, other1],
      [other2, other3],
    ]);
    expect(published).toBe(4);

    // What Kafka holds: every message the backfill produced, read back to each partition's end.
    const admin = createKafka([broker.brokers], 'backfill-test-admin', logger).admin();
    await admin.connect();
    let onKafka = 0;
    try {
      for (const topic of TOPICS)
        for (const p of await admin.fetchTopicOffsets(topic)) onKafka += Number(p.high);
    } finally {
      await admin.disconnect();
    }
    expect(onKafka).toBe(4);
    const versions = versionsByKey(await consumeUntil(broker.brokers, (m) => m.length >= onKafka));
    expect(Object.fromEntries(versions)).toEqual({
      [held]: [1],
      [other1]: [1],
      [other2]: [1],
      [other3]: [1],
    });
    const { rows } = await database.pool.query<{ backfill_completed_at: Date | null }>(
      'select backfill_completed_at from relay_progress where slot_name = $1',
      ['backfill_test'],
    );
    expect(rows[0]?.backfill_completed_at).toBeInstanceOf(Date);
  } finally {
    await slow.end();
  }
});
