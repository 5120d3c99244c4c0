import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_BROKER_RELAY_ENV, type LocalBroker } from '../scripts/lib/local-broker.ts';
import { ADMIN_TOKEN } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { startTestBroker } from './helpers/kafka.ts';
import { freePorts, waitFor } from './helpers/processes.ts';

/**
 * The real `npm start` supervisor (scripts/start.ts), on a database of the test's own (DATABASE_URL:
 * no embedded Postgres) and the test's broker (KAFKA_BROKERS: no mokapi on :9092), with spare
 * ports. It runs in a process group of its own, as a terminal runs it, so Ctrl-C is SIGINT to the
 * whole group.
 */
let broker: LocalBroker;
let stateDir: string;
let database: TestDatabase | undefined;
beforeAll(async () => {
  broker = await startTestBroker();
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'wp-start-'));
});
afterEach(async () => {
  await database?.drop();
  database = undefined;
});
afterAll(async () => {
  await broker?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Live processes whose process group is `pgid` (from /proc/<pid>/stat: the field after ppid). */
function processesInGroup(pgid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(group) === pgid && state !== 'Z') found.push(Number(entry));
    } catch {} // the process ended while we looked
  }
  return found;
}

/** Starts `npm start`'s script and waits until every role is up. */
async function startSupervisor(db: TestDatabase) {
  const heartbeatPids = async (role: 'worker' | 'relay') =>
    (await db.db.selectFrom('process_heartbeats').select('pid').where('role', '=', role).execute()).map(
      (r) => r.pid,
    );
  const [api, sim, workerMetrics, relayMetrics] = await freePorts(4);
  const child = spawn(process.execPath, ['scripts/start.ts'], {
    detached: true, // a process group of its own, whose leader is the supervisor
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...LOCAL_BROKER_RELAY_ENV,
      ENV_FILE: 'none', // a developer's .env must not reach the test's system
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: broker.brokers,
      PORT: String(api),
      GATEWAY_SIM_PORT: String(sim),
      WORKER_METRICS_PORT: String(workerMetrics),
      RELAY_METRICS_PORT: String(relayMetrics),
      GATEWAY_BASE_URL: `http://127.0.0.1:${sim}`,
      GATEWAY_CALLBACK_BASE_URL: `http://127.0.0.1:${api}`,
      GATEWAY_SIM_STATE_FILE: path.join(stateDir, `${db.url.split('/').pop()}.jsonl`),
      RELAY_SLOT_NAME: `slot_${db.url.split('/').pop()}`,
      WORKER_HEARTBEAT_SECONDS: '1',
      RELAY_HEARTBEAT_SECONDS: '1',
      DEV_API_KEY_FILE: path.join(stateDir, `${db.url.split('/').pop()}.key`),
    },
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pgid = child.pid as number;
  const supervisor = { pgid, exited, heartbeatPids, output: () => output, apiUrl: `http://127.0.0.1:${api}` };
  try {
    await waitFor(
      'every role up',
      async () =>
        (await fetch(`http://127.0.0.1:${api}/health/live`)).ok &&
        (await fetch(`http://127.0.0.1:${sim}/health`)).ok &&
        (await heartbeatPids('worker')).length === 1 &&
        (await heartbeatPids('relay')).length === 1,
      60_000,
      250,
    );
  } catch (err) {
    process.kill(-pgid, 'SIGKILL');
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return supervisor;
}

describe('npm start (scripts/start.ts)', () => {
  it('restarts a role killed with SIGKILL; Ctrl-C stops every role before the supervisor exits 0', async () => {
    database = await createTestDatabase();
    const supervisor = await startSupervisor(database);
    try {
      const [killed] = await supervisor.heartbeatPids('worker');
      expect(processesInGroup(supervisor.pgid)).toContain(killed);
      process.kill(killed as number, 'SIGKILL');
      const restarted = await waitFor(
        'a new worker',
        async () => (await supervisor.heartbeatPids('worker')).find((pid) => pid !== killed),
        30_000,
        250,
      );
      expect(processesInGroup(supervisor.pgid)).toContain(restarted);
      expect(processesInGroup(supervisor.pgid)).not.toContain(killed);
      expect(supervisor.output()).toMatch(/worker exited \(SIGKILL\); restarting in \d+ ms/);
      // The development key it printed works, for owner dev, and is kept where it said.
      const printed = /API key\s+(wpk_[0-9a-f]{8}_\S+)\s+\(owner "dev"/.exec(
        supervisor.output(),
      )?.[1] as string;
      expect(printed).toBeDefined();
      expect(readFileSync(path.join(stateDir, `${database.url.split('/').pop()}.key`), 'utf8').trim()).toBe(
        printed,
      );
      const wallet = await fetch(`${supervisor.apiUrl}/wallets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${printed}` },
        body: JSON.stringify({ currency: 'USD' }),
      });
      expect(wallet.status).toBe(201);
      expect((await wallet.json()).owner_id).toBe('dev');
    } finally {
      process.kill(-supervisor.pgid, 'SIGINT'); // Ctrl-C
    }
    expect(await supervisor.exited).toBe(0);
    // Looked at the moment the supervisor is gone: it waited for its roles.
    expect(processesInGroup(supervisor.pgid)).toEqual([]);
    expect(supervisor.output()).toContain('[start] stopped');
  }, 120_000);

  it('SIGTERM to the supervisor alone (a service manager stopping it) stops every role first, then it exits 0', async () => {
    database = await createTestDatabase();
    const supervisor = await startSupervisor(database);
    expect(processesInGroup(supervisor.pgid).length).toBeGreaterThanOrEqual(5); // itself and 4 roles
    process.kill(supervisor.pgid, 'SIGTERM');
    const code = await Promise.race([
      supervisor.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 30 s'), 30_000)),
    ]);
    const left = processesInGroup(supervisor.pgid);
    if (left.length > 0) process.kill(-supervisor.pgid, 'SIGKILL'); // cleanup only; asserted below
    expect(code).toBe(0);
    expect(left).toEqual([]);
    // Each role stopped by itself, cleanly: a worker and a relay remove their heartbeat on the way out.
    expect([
      ...(await supervisor.heartbeatPids('worker')),
      ...(await supervisor.heartbeatPids('relay')),
    ]).toEqual([]);
  }, 120_000);
});
