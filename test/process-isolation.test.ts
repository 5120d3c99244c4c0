import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { isProcessAlive } from '../scripts/lib/embedded-postgres.ts';
import { ADMIN_TOKEN } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { startEmbeddedPostgresOnFreePort } from './helpers/embedded-postgres.ts';
import { freePort, INHERITED_ENV, type RoleProcess, spawnRole } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * Test processes do not race each other: roles bind port 0 and report the port, Postgres retries a
 * port someone took first, a role's environment is what it was given, and a system that fails to
 * start leaves nothing running.
 */

/** A port held open by this process for the test's duration: anything else binding it fails. */
async function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Live (not zombie) child processes of this process, with their command lines. */
function liveChildren(): Map<number, string> {
  const children = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...; comm may hold spaces and parentheses, so parse after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      children.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // The process ended between readdir and read: not a live child.
    }
  }
  return children;
}

async function databaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    return (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe('roles told port 0 report the port they bound', () => {
  let system: TestSystem;
  let api: RoleProcess;
  beforeAll(async () => {
    system = await startSystem({}, { workers: 1, relays: 1 });
    api = spawnRole('app/main.ts', {
      DATABASE_URL: system.database.url,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      PORT: '0',
    });
  });
  afterAll(async () => {
    await api?.kill('SIGTERM');
    await system?.close();
  });

  it('the API, the simulator, a worker and a relay each serve on the port they reported', async () => {
    const [worker, relay] = [system.workers[0] as RoleProcess, system.relays[0] as RoleProcess];
    const ports = {
      api: await api.listening('http'),
      gateway: Number(new URL(system.gatewayUrl).port),
      worker: await worker.listening('metrics'),
      relay: await relay.listening('metrics'),
    };
    expect(new Set(Object.values(ports)).size).toBe(4);
    expect(Object.values(ports).every((p) => p > 0)).toBe(true);

    expect((await fetch(`http://127.0.0.1:${ports.gateway}/health`)).status).toBe(200);
    // Each metrics endpoint is the reporting role's own: its default metrics carry its role label.
    for (const role of ['api', 'worker', 'relay'] as const) {
      const res = await fetch(`http://127.0.0.1:${ports[role]}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(new RegExp(`process_start_time_seconds\\{role="${role}"\\}`));
    }
  });
});

describe('spawnRole gives a role an explicit environment', () => {
  const leaked = 'WP_TEST_PARENT_ONLY';
  let role: RoleProcess | undefined;
  afterEach(async () => {
    delete process.env[leaked];
    await role?.kill('SIGTERM');
  });

  it('a variable set in the parent and not passed does not reach the role; passed ones and the allow-list do', async () => {
    process.env[leaked] = 'must-not-leak';
    const passed = { GATEWAY_SIM_PORT: '0', LOG_LEVEL: 'warn', WP_TEST_PASSED: 'yes' };
    role = spawnRole('gateway-sim/main.ts', passed);
    const port = await role.listening('http');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);

    // The environment the role's process started with.
    const environ = Object.fromEntries(
      readFileSync(`/proc/${role.pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    expect(environ[leaked]).toBeUndefined();
    const inherited = INHERITED_ENV.filter((name) => process.env[name] !== undefined);
    // Node adds the IPC channel's own two variables; ENV_FILE=none keeps a developer's .env out.
    expect(Object.keys(environ).sort()).toEqual(
      [
        ...Object.keys(passed),
        ...inherited,
        'ENV_FILE',
        'NODE_CHANNEL_FD',
        'NODE_CHANNEL_SERIALIZATION_MODE',
      ].sort(),
    );
    expect(environ.ENV_FILE).toBe('none');
    expect(environ).toMatchObject({ ...passed, PATH: process.env.PATH });
  });
});

describe('startSystem cleans up after a step that fails', () => {
  const spawned = new Map<number, string>();
  let databaseName: string | undefined;
  afterEach(async () => {
    // Even on a build without the cleanup: this test leaves nothing running and no database.
    for (const pid of spawned.keys()) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    if (databaseName && (await databaseExists(databaseName))) {
      const admin = new pg.Client({ connectionString: inject('adminUrl') });
      await admin.connect();
      await admin.query(`drop database ${databaseName} with (force)`).finally(() => admin.end());
    }
  });

  it('a relay that cannot bind its metrics port: the start fails, no process it spawned is alive, its database is dropped', async () => {
    const taken = await holdPort();
    const database = await createTestDatabase();
    databaseName = new URL(database.url).pathname.slice(1);
    const before = new Set(liveChildren().keys());
    // Note every child spawned while the start runs, to check each of them afterwards. A process
    // being spawned or exiting shows an empty command line: keep the one it had while it ran.
    const watch = setInterval(() => {
      for (const [pid, command] of liveChildren())
        if (!before.has(pid) && (command || !spawned.get(pid))) spawned.set(pid, command);
    }, 20);
    try {
      const attempt = startSystem(
        { RELAY_METRICS_PORT: String(taken.port) },
        { workers: 1, relays: 1, database },
      );
      await expect(attempt).rejects.toThrow(
        /outbox-relay\/main\.ts .* could not listen \(metrics\).*EADDRINUSE/,
      );
    } finally {
      clearInterval(watch);
      await taken.release();
    }

    // It got as far as the relay: the simulator, the broker and a worker were running.
    const commands = [...spawned.values()];
    for (const started of ['gateway-sim/main.ts', 'workers/main.ts', 'outbox-relay/main.ts', 'mokapi'])
      expect(
        commands.some((c) => c.includes(started)),
        `${started} among: ${commands.join(' | ')}`,
      ).toBe(true);
    expect([...spawned.keys()].filter(isProcessAlive)).toEqual([]);
    expect(await databaseExists(databaseName)).toBe(false);
  }, 120_000);
});

describe('embedded Postgres on a free port', () => {
  it('starts on another port when the one it chose is taken before it binds it', async () => {
    const taken = await holdPort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-port-retry-'));
    const chosen: number[] = [];
    // The first choice is a port another process took after it was found free.
    const choose = async () => {
      const port = chosen.length === 0 ? taken.port : await freePort();
      chosen.push(port);
      return port;
    };
    try {
      const server = await startEmbeddedPostgresOnFreePort(
        { dataDir: path.join(dir, 'data'), database: 'retry', persistent: false, durable: false },
        choose,
      );
      try {
        expect(chosen).toHaveLength(2);
        expect(server.port).toBe(chosen[1]);
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        const { rows } = await client.query('select current_database() as db').finally(() => client.end());
        expect(rows).toEqual([{ db: 'retry' }]);
      } finally {
        await server.stop();
      }
    } finally {
      await taken.release();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
