import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../app/observability/logger.ts';
import { backfillIfNeeded } from '../outbox-relay/backfill.ts';
import { createKafka, createPublisher, ensureTopics, type Publisher, TOPICS } from '../outbox-relay/kafka.ts';
import type { LocalBroker } from '../outbox-relay/local-broker.ts';
import { quarantineIn } from '../outbox-relay/quarantine.ts';
import { createSender, type Sender } from '../outbox-relay/sender.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { consumeUntil, startTestBroker, versionsByKey } from './helpers/kafka.ts';

/**
 * The backfill reads the outbox in pages. A transaction that holds a low outbox id and commits
 * while the backfill is between pages, followed by its aggregate's next event at a higher id, must
 * not leave the backfill sending the later version without the earlier one (both then come from
 * the slot, in commit order). Chaos once found Kafka holding v30 before v29 this way; here the
 * interleaving is forced at the moment the first page is handed to the sender.
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

it('never sends an aggregate’s later version from a page read after its earlier one committed', async () => {
  const [held, other1, other2] = [randomUUID(), randomUUID(), randomUUID()];
  // A transaction takes the lowest outbox id (held's v1) and stays open.
  const slow = new pg.Client({ connectionString: database.url });
  await slow.connect();
  try {
    await slow.query('begin');
    await deposit(slow, held, 1);
    await deposit(database.pool, other1, 1);
    await deposit(database.pool, other2, 1);

    // The first page (two rows, held's v1 not visible) reaches the sender; at that moment held's
    // v1 commits and its v2 follows, at an id past the first page.
    const real = createSender(publisher, quarantineIn(database.pool, logger), {
      maxRows: 100,
      maxBytes: 1_000_000,
      maxMessageBytes: 100_000,
    });
    const pages: string[][] = [];
    const sender: Sender = {
      async sendAll(rows) {
        pages.push(rows.map((r) => r.message.key));
        if (pages.length === 1) {
          await slow.query('commit');
          await deposit(database.pool, held, 2);
        }
        return real.sendAll(rows);
      },
    };
    const published = await backfillIfNeeded(database.pool, sender, {
      slot: 'backfill_test',
      instanceId: 'test',
      slotCreated: true,
      overlapSeconds: 10,
      logger,
      chunk: 2,
    });

    expect(pages[0]?.sort()).toEqual([other1, other2].sort());
    // Both of held's events committed after the backfill's snapshot: the slot brings them.
    expect(pages.flat()).not.toContain(held);
    expect(published).toBe(2);

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
    const messages = await consumeUntil(broker.brokers, (m) => m.length >= onKafka);
    const versions = versionsByKey(messages);
    expect(versions.get(held)).toBeUndefined();
    for (const [key, list] of versions) expect(list, `versions of ${key}`).toEqual(list.map((_, i) => i + 1));
    const { rows } = await database.pool.query<{ backfill_completed_at: Date | null }>(
      'select backfill_completed_at from relay_progress where slot_name = $1',
      ['backfill_test'],
    );
    expect(rows[0]?.backfill_completed_at).toBeInstanceOf(Date);
  } finally {
    await slow.end();
  }
});
