import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../app/db/database.ts';
import { migrate } from '../app/db/migrate.ts';
import type { TestDatabase } from './helpers/database.ts';
import { startEmbeddedPostgresOnFreePort } from './helpers/embedded-postgres.ts';
import { idem, request } from './helpers/http.ts';
import { type ConsumedMessage, consumeUntil, versionsByKey } from './helpers/kafka.ts';
import { type RoleProcess, waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * WAL cannot fill the disk: Postgres (max_slot_wal_keep_size) invalidates a slot that holds back
 * too much, the API exports the slot's state while the relay is down, and the relay recreates an
 * invalidated slot and backfills from the outbox, so no event is missing on Kafka.
 * A Postgres of its own, with a 1 MB allowance: a few WAL segment switches invalidate the slot.
 */
let system: TestSystem;
let slot: string;
beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-slot-'));
  chmodSync(dir, 0o755);
  const postgres = await startEmbeddedPostgresOnFreePort({
    dataDir: path.join(dir, 'data'),
    database: 'slot_test',
    persistent: false,
    durable: false,
    maxSlotWalKeepSize: '1MB',
  });
  await migrate(postgres.url);
  const db = createDatabase(postgres.url, { max: 5, applicationName: 'test' });
  const database: TestDatabase = {
    ...db,
    url: postgres.url,
    async drop() {
      await db.close();
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  system = await startSystem({}, { workers: 0, relays: 1, database });
  slot = system.env.RELAY_SLOT_NAME as string;
});
afterAll(async () => {
  await system?.close();
});

const metrics = async () => (await fetch(`${system.api.baseUrl}/metrics`)).text();
/** The value of a gauge of this slot in the API's /metrics, or undefined if it has none. */
const gauge = (text: string, name: string, labels = '') => {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(`slot="${slot}"`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};
const slotState = async () =>
  (
    await sql<{ wal_status: string | null; active: boolean }>`
      select wal_status, active from pg_replication_slots where slot_name = ${slot}`.execute(
      system.database.db,
    )
  ).rows[0];
const allEventIds = async () =>
  new Set(
    (await system.database.db.selectFrom('events').select('event_id').execute()).map((e) => e.event_id),
  );

async function deposits(walletId: string, count: number, tag: string) {
  for (let i = 0; i < count; i++) {
    const res = await request(system.api.baseUrl, 'POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 1, reference: `${tag} ${i}` },
      headers: idem(`${tag}-${i}`),
    });
    expect(res.status).toBe(201);
  }
}

describe('WAL held back by the relay slot', () => {
  it('is exported by the API, with the slot state, while the relay is down', async () => {
    const walletId = await system.newWallet(100);
    await consumeUntil(system.brokers as string, (ms) => ms.some((m) => m.key === walletId));
    const up = await metrics();
    expect(gauge(up, 'outbox_relay_slot_active')).toBe(1);
    expect(gauge(up, 'outbox_relay_slot_wal_status', 'status="reserved"')).toBe(1);

    await Promise.all(system.relays.map((r) => r.kill('SIGTERM')));
    await deposits(walletId, 5, 'while-down');
    const down = await waitFor('the API to see the slot inactive', async () => {
      const text = await metrics();
      return gauge(text, 'outbox_relay_slot_active') === 0 ? text : undefined;
    });
    expect(gauge(down, 'outbox_relay_slot_retained_wal_bytes')).toBeGreaterThan(0);
    expect(gauge(down, 'outbox_relay_slot_wal_status', 'status="reserved"')).toBe(1);
    expect(gauge(down, 'outbox_relay_slot_wal_status', 'status="lost"')).toBe(0);
  });

  it('is given up by Postgres past max_slot_wal_keep_size; the relay recreates the slot and backfills', async () => {
    await Promise.all(system.relays.map((r) => r.kill('SIGTERM')));
    const walletId = await system.newWallet(100);
    await deposits(walletId, 20, 'before-invalidation');
    // Fill WAL while the relay is down, until Postgres gives the slot up at a checkpoint.
    await waitFor(
      'Postgres to invalidate the slot',
      async () => {
        await sql`select pg_switch_wal()`.execute(system.database.db);
        await sql`checkpoint`.execute(system.database.db);
        return (await slotState())?.wal_status === 'lost';
      },
      60_000,
      200,
    );
    const whileLost = await metrics();

    const restartedAt = new Date();
    const relay = await system.startRelay();
    const expected = await allEventIds();
    const messages: ConsumedMessage[] = await consumeUntil(
      system.brokers as string,
      (ms) => {
        const got = new Set(ms.map((m) => m.value.event_id));
        for (const id of expected) if (!got.has(id)) return false;
        return true;
      },
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nrelay log (tail): ${relay.output().slice(-1500)}`);
    });
    const versions = versionsByKey(messages).get(walletId);
    expect(versions).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));

    const state = await slotState();
    expect(state?.wal_status).not.toBe('lost');
    const progress = await system.database.db
      .selectFrom('relay_progress')
      .select('backfill_completed_at')
      .where('slot_name', '=', slot)
      .executeTakeFirstOrThrow();
    expect(progress.backfill_completed_at?.getTime()).toBeGreaterThanOrEqual(restartedAt.getTime());
    expect(relay.output()).toMatch(/invalidated/);
    // What the API said while the slot was lost and the relay down.
    expect(gauge(whileLost, 'outbox_relay_slot_wal_status', 'status="lost"')).toBe(1);
    await waitFor('the API to see the new slot active', async () => {
      const text = await metrics();
      return (
        gauge(text, 'outbox_relay_slot_active') === 1 &&
        gauge(text, 'outbox_relay_slot_wal_status', 'status="lost"') === 0
      );
    });
  }, 180_000);

  it('is given up while the relay streams: the relay notices, recreates the slot and backfills', async () => {
    const relay = system.relays.at(-1) as RoleProcess;
    const walletId = await system.newWallet(100);
    await consumeUntil(system.brokers as string, (ms) => ms.some((m) => m.key === walletId));
    const before = (await slotState())?.active;

    // The relay leads and is idle. Deposits and WAL go on until Postgres gives its slot up (and
    // ends the walsender streaming it): the relay must come back on a new slot by itself, which
    // it marks by completing a new backfill.
    const startedAt = new Date();
    let n = 0;
    await waitFor(
      'the running relay to recreate its invalidated slot',
      async () => {
        await deposits(walletId, 1, `while-streaming-${n++}`);
        await sql`select pg_switch_wal()`.execute(system.database.db);
        await sql`checkpoint`.execute(system.database.db);
        const progress = await system.database.db
          .selectFrom('relay_progress')
          .select('backfill_completed_at')
          .where('slot_name', '=', slot)
          .executeTakeFirstOrThrow();
        return (progress.backfill_completed_at?.getTime() ?? 0) > startedAt.getTime();
      },
      60_000,
      200,
    );
    await deposits(walletId, 3, 'after-invalidation');
    const expected = await allEventIds();
    const messages = await consumeUntil(
      system.brokers as string,
      (ms) => {
        const got = new Set(ms.map((m) => m.value.event_id));
        for (const id of expected) if (!got.has(id)) return false;
        return true;
      },
      90_000,
    );
    expect(versionsByKey(messages).get(walletId)).toEqual(Array.from({ length: n + 5 }, (_, i) => i + 1));
    expect(before).toBe(true);
    expect(relay.child.exitCode).toBeNull();
    expect((await slotState())?.wal_status).not.toBe('lost');
  }, 180_000);
});
