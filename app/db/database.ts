import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import { type Config, databaseUrl } from '../config.ts';
import type { DB } from './types.ts';

/**
 * int8 (bigint, bigserial, count(*)) is parsed here, once, as a JavaScript number, and refused if
 * it is not a safe integer. Money columns are capped below 2^53 by CHECK constraints, so a failure
 * here means a bug, never a rounding.
 */
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} is outside the safe integer range`);
  return n;
});

export type Db = Kysely<DB>;
export type Trx = Transaction<DB>;

export interface Database {
  pool: pg.Pool;
  db: Db;
  close(): Promise<void>;
}

export interface SessionTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  connectTimeoutMs: number;
}

export function createDatabase(
  connectionString: string,
  options: { max?: number; applicationName?: string; timeouts?: SessionTimeouts } = {},
): Database {
  const t = options.timeouts;
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'wallet-payments',
    // Sent as startup parameters: every session of the pool has them, with no extra round trip.
    ...(t
      ? {
          statement_timeout: t.statementTimeoutMs,
          lock_timeout: t.lockTimeoutMs,
          idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
          connectionTimeoutMillis: t.connectTimeoutMs,
        }
      : {}),
  });
  // An idle client that loses its server (restart, pg_terminate_backend) must not crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return {
    pool,
    db,
    // Kysely's destroy() ends the pool it was given.
    close: () => db.destroy(),
  };
}

/** The pool of one role, with that role's session timeouts from config. */
export function createRolePool(
  config: Config,
  role: 'api' | 'worker' | 'relay',
  options: { max: number; applicationName?: string },
): Database {
  const statementTimeoutMs = {
    api: config.API_DB_STATEMENT_TIMEOUT_MS,
    worker: config.WORKER_DB_STATEMENT_TIMEOUT_MS,
    relay: config.RELAY_DB_STATEMENT_TIMEOUT_MS,
  }[role];
  return createDatabase(databaseUrl(config), {
    max: options.max,
    applicationName: options.applicationName ?? role,
    timeouts: {
      statementTimeoutMs,
      lockTimeoutMs: config.DB_LOCK_TIMEOUT_MS,
      idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
    },
  });
}
