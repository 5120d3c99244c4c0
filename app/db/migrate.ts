import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBinary } from 'dbmate';
import { runMigrations as runGraphileWorkerMigrations } from 'graphile-worker';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const migrationsDir = path.join(root, 'db/migrations');
export const functionsDir = path.join(root, 'db/functions');

/**
 * Brings a database to the current schema, in this order:
 * 1. our numbered SQL migrations, applied by dbmate (each in its own transaction);
 * 2. graphile-worker's own schema, installed by graphile-worker itself;
 * 3. every file in db/functions/ (CREATE OR REPLACE), in one transaction.
 * Idempotent: running it on an up-to-date database changes nothing.
 */
export async function migrate(
  connectionString: string,
  options: {
    /** Another directory of numbered migrations (a test migrating to an older version first). */
    migrationsDir?: string;
  } = {},
): Promise<void> {
  await runDbmate(connectionString, ['--wait', '--wait-timeout', '30s', 'up'], options.migrationsDir);
  await runGraphileWorkerMigrations({ connectionString });
  await applyFunctions(connectionString);
}

async function runDbmate(connectionString: string, args: string[], dir = migrationsDir): Promise<void> {
  const url = new URL(connectionString);
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
  const child = spawn(
    resolveBinary(),
    ['--url', url.toString(), '--migrations-dir', dir, '--no-dump-schema', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`dbmate ${args.at(-1)} failed (exit ${code}):\n${output.trim()}`);
}

async function applyFunctions(connectionString: string): Promise<void> {
  const files = (await readdir(functionsDir)).filter((f) => f.endsWith('.sql')).sort();
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('begin');
    // Two processes migrating at once must not interleave their CREATE OR REPLACEs.
    await client.query(`select pg_advisory_xact_lock(hashtext('wallet-payments:functions'))`);
    // Functions may call functions defined in later files: check bodies when they run, not now.
    await client.query('set local check_function_bodies = off');
    for (const file of files) {
      const sql = await readFile(path.join(functionsDir, file), 'utf8');
      try {
        await client.query(sql);
      } catch (err) {
        throw new Error(`db/functions/${file}: ${(err as Error).message}`);
      }
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
