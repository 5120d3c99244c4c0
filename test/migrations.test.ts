import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../app/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

describe('migrations', () => {
  it('are idempotent: migrating an up-to-date database changes nothing', async () => {
    const versions = async () =>
      (
        await sql<{ version: string }>`select version from schema_migrations order by version`.execute(
          database.db,
        )
      ).rows.map((r) => r.version);
    const before = await versions();
    expect(before.length).toBeGreaterThanOrEqual(5);
    await migrate(database.url);
    expect(await versions()).toEqual(before);
  });

  it("install graphile-worker's own schema and our write-path function", async () => {
    const { rows } = await sql<{ name: string }>`
      select p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where (n.nspname = 'graphile_worker' and p.proname in ('add_job', 'force_unlock_workers'))
         or (n.nspname = 'public' and p.proname in ('event__append', 'audit__wallet_balances'))`.execute(
      database.db,
    );
    expect(rows.map((r) => r.name).sort()).toEqual([
      'add_job',
      'audit__wallet_balances',
      'event__append',
      'force_unlock_workers',
    ]);
  });
});
