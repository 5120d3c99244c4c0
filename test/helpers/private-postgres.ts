import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase } from '../../app/db/database.ts';
import { migrate } from '../../app/db/migrate.ts';
import {
  quitPostmaster,
  type RunningPostgres,
  startEmbeddedPostgres,
} from '../../scripts/lib/embedded-postgres.ts';
import type { TestDatabase } from './database.ts';
import { startEmbeddedPostgresOnFreePort } from './embedded-postgres.ts';

/**
 * A Postgres server of the test's own (embedded-postgres, its own port and data directory), for
 * tests that stop the server: the shared test server serves every other file. `outage()` stops it
 * the hard way (SIGQUIT: immediate shutdown, crash recovery at the next start) and starts it again
 * on the same port and data directory, as an operator's restart or a failover would look to clients.
 * Durable (fsync and synchronous commit on): an immediate shutdown must not lose what was committed.
 */
export interface PrivatePostgres {
  database: TestDatabase;
  outage(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivatePostgres(settings: Record<string, string> = {}): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-private-pg-'));
  const dataDir = path.join(dir, 'data');
  const options = { dataDir, database: 'payments', persistent: true, durable: true, settings };
  const first = await startEmbeddedPostgresOnFreePort(options);
  let server: RunningPostgres = first;
  // After an outage it starts again on the same port: its clients' URL names it.
  const start = () => startEmbeddedPostgres({ ...options, port: first.port });
  await migrate(server.url);
  const url = server.url;
  const database = createDatabase(url, { max: 10, applicationName: 'test' });

  return {
    database: { ...database, url, drop: async () => database.close() },
    async outage(downMs) {
      const stoppedAt = Date.now();
      await quitPostmaster(dataDir);
      await sleep(Math.max(0, downMs - (Date.now() - stoppedAt)));
      server = await start();
    },
    async stop() {
      await database.close().catch(() => {});
      await server.stop().catch(() => {});
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
