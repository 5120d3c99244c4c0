import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type Database } from '../../app/db/database.ts';

/**
 * A fresh, migrated database for one test file, cloned from the template the global setup made.
 * Dropped WITH (FORCE) by `drop()`.
 */
export interface TestDatabase extends Database {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const name = `wp_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`create database ${name} template ${inject('templateDatabase')}`));
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const database = createDatabase(url, { max: 20, applicationName: 'test' });
  return {
    ...database,
    url,
    async drop() {
      await database.close();
      await withAdmin(adminUrl, async (c) => {
        // A replication slot pins its database: stop its reader, drop it, then the database.
        await c.query(
          `select pg_terminate_backend(active_pid) from pg_replication_slots where database = $1 and active_pid is not null`,
          [name],
        );
        for (let i = 0; i < 50; i++) {
          const { rows } = await c.query<{ slot_name: string; active: boolean }>(
            'select slot_name, active from pg_replication_slots where database = $1',
            [name],
          );
          if (rows.length === 0) break;
          for (const r of rows.filter((x) => !x.active)) {
            await c.query('select pg_drop_replication_slot($1)', [r.slot_name]).catch(() => {});
          }
          await new Promise((res) => setTimeout(res, 100));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      });
    },
  };
}

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
