import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * SIGTERM reaches a leading relay at any point, also while it is still setting up (creating its
 * slot, checking topics, backfilling): it must then stop there, not go on to stream and be killed
 * by its own grace timer.
 */
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({}, { workers: 0, relays: 1 });
});
afterAll(async () => {
  await system?.close();
});

describe('relay shutdown', () => {
  it('a relay sent SIGTERM while it creates its slot stops without streaming, exit code 0, well within its grace', async () => {
    // Creating a logical slot waits for every transaction that holds an xid: one held open here
    // keeps the relay inside its setup until the test lets it go.
    const blocker = new pg.Client({ connectionString: system.database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select pg_current_xact_id()');
      // A slot (and so a leader lock) of its own: the system's relay leads the other one.
      const slot = `slot_setup_${randomBytes(4).toString('hex')}`;
      const relay = await system.startRelay({
        RELAY_SLOT_NAME: slot,
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_SECONDS: '20',
        // It waits for the blocker as long as the test holds it, rather than timing out and retrying.
        DB_LOCK_TIMEOUT_MS: '60000',
      });
      await waitFor('the relay to wait for the open transaction while creating its slot', async () => {
        // Not on the blocker's connection: inside a transaction, pg_stat_activity does not change.
        const { rows } = await sql`
          select 1 from pg_stat_activity where query like '%pg_create_logical_replication_slot%'
             and wait_event_type = 'Lock' and pid <> pg_backend_pid()`.execute(system.database.db);
        return rows.length > 0;
      });

      const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
        relay.child.once('exit', (code) => resolve({ code, at: Date.now() })),
      );
      relay.child.kill('SIGTERM');
      await waitFor('the relay to log its shutdown', async () => relay.output().includes('"shutting down"'));
      const releasedAt = Date.now();
      await blocker.query('commit');

      const { code, at } = await exited;
      expect(relay.output()).not.toContain('relay streaming');
      expect(relay.output()).not.toContain('shutdown timed out');
      expect(code).toBe(0);
      // Well within its grace: it stopped, rather than being stopped by its grace timer.
      expect(at - releasedAt).toBeLessThan(10_000);
    } finally {
      await blocker.end();
    }
  }, 60_000);
});
