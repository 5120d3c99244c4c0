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
      await withAdmin(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
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
