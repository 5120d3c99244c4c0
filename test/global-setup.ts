import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../app/db/migrate.ts';
import { startEmbeddedPostgresOnFreePort } from './helpers/embedded-postgres.ts';

/**
 * Provisions one Postgres server for the whole run, migrates a template database once, and lets
 * every test file clone it (CREATE DATABASE ... TEMPLATE: tens of milliseconds).
 * Postgres comes from DATABASE_URL if set; else from Docker through testcontainers if an engine
 * answers; else from embedded-postgres (a fresh data directory and free port per run).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    postgresKind: string;
  }
}

const TEMPLATE = 'wp_test_template';

export default async function setup(project: TestProject) {
  const server = await startServer();
  const adminUrl = server.urlFor('postgres');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE} with (force)`);
  await admin.query(`create database ${TEMPLATE}`);
  await migrate(server.urlFor(TEMPLATE));
  // A template must have no open connections when it is cloned.
  await admin.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [TEMPLATE],
  );
  await admin.end();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', TEMPLATE);
  project.provide('postgresKind', server.kind);
  process.stdout.write(`[test] Postgres: ${server.kind}\n`);

  return async () => {
    await server.stop();
  };
}

interface Server {
  kind: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  if (process.env.DATABASE_URL) {
    const base = new URL(process.env.DATABASE_URL);
    return {
      kind: 'DATABASE_URL',
      urlFor: (db) => Object.assign(new URL(base), { pathname: `/${db}` }).toString(),
      stop: async () => {},
    };
  }
  if (process.env.TEST_DB !== 'embedded' && (await dockerAvailable())) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:18')
      .withCommand(['postgres', '-c', 'wal_level=logical', '-c', 'fsync=off', '-c', 'max_connections=200'])
      .start();
    const base = new URL(container.getConnectionUri());
    return {
      kind: 'testcontainers (postgres:18)',
      urlFor: (db) => Object.assign(new URL(base), { pathname: `/${db}` }).toString(),
      stop: async () => {
        await container.stop();
      },
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-test-pg-'));
  chmodSync(dir, 0o755);
  const pgServer = await startEmbeddedPostgresOnFreePort({
    dataDir: path.join(dir, 'data'),
    database: 'postgres',
    persistent: false,
    durable: false,
  });
  return {
    kind: 'embedded-postgres 18',
    urlFor: pgServer.urlFor,
    stop: async () => {
      await pgServer.stop();
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function dockerAvailable(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}
