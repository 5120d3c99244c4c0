import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * `/health/live` and `/health/ready` on the worker's and the relay's metrics ports, against real
 * processes and a real Postgres: the database is made to refuse this system's connections
 * (ALLOW_CONNECTIONS false, its sessions ended), then to take them again; a worker is stopped with
 * a job in flight.
 */
let system: TestSystem;
beforeAll(async () => {
  // Gateway calls slow enough for a shutdown to wait on one; a broker for the relay once it leads.
  system = await startSystem({ GATEWAY_ATTEMPT_TIMEOUT_MS: '8000' }, { broker: true });
});
afterAll(async () => {
  await system?.close();
});

const databaseName = () => new URL(system.database.url).pathname.slice(1);

/** Refuses new connections to the system's database and ends its sessions, but `spare`'s. */
async function refuseConnections(spare: number[] = []) {
  await withAdmin(async (admin) => {
    await admin.query(`alter database ${databaseName()} allow_connections false`);
    await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> all($2::int[])',
      [databaseName(), spare],
    );
  });
}
async function allowConnections() {
  await withAdmin((admin) => admin.query(`alter database ${databaseName()} allow_connections true`));
}
async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

async function health(port: number, path: '/health/live' | '/health/ready') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

/** Waits until /health/ready answers `status`, and returns that answer. */
const readyWhen = (port: number, status: number, what: string) =>
  waitFor(
    what,
    async () => {
      const answer = await health(port, '/health/ready');
      return answer.status === status ? answer : undefined;
    },
    15_000,
    50,
  );

describe('a worker', () => {
  it('is live and ready; not ready while its database refuses it, ready again after; stopping at SIGTERM while a job runs', async () => {
    const worker = system.workers[0] as (typeof system.workers)[number];
    onTestFailed(() => {
      process.stderr.write(`worker:\n${worker.output().slice(-6000)}\n`);
    });
    const port = await worker.listening('metrics');

    expect(await health(port, '/health/live')).toEqual({ status: 200, body: { status: 'alive' } });
    // Read-only: another method is refused, with what is allowed.
    const posted = await fetch(`http://127.0.0.1:${port}/health/ready`, { method: 'POST', body: 'x' });
    expect([posted.status, posted.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect(await health(port, '/health/ready')).toEqual({
      status: 200,
      body: {
        status: 'ready',
        checks: {
          runner: { status: 'pass', detail: 'running' },
          database: { status: 'pass', detail: 'reachable' },
        },
      },
    });

    await refuseConnections();
    try {
      const refused = await readyWhen(port, 503, 'the worker not ready');
      expect(refused.body).toMatchObject({
        status: 'not_ready',
        checks: { database: { status: 'fail', detail: 'unreachable' } },
      });
      expect((await health(port, '/health/live')).status).toBe(200);
    } finally {
      await allowConnections();
    }
    await readyWhen(port, 200, 'the worker ready again');

    // A payment whose charge takes 4 s: SIGTERM comes while its job runs, and the worker waits for it.
    await system.control('alpha', { latency_ms: 4000 });
    const walletId = await system.newWallet(1000);
    await system.pay(walletId, 100);
    await waitFor('its job to run', async () => {
      const { rows } = await system.database.pool.query<{ n: number }>(
        'select count(*)::int as n from graphile_worker.jobs where locked_at is not null',
      );
      return (rows[0]?.n ?? 0) > 0;
    });
    const exited = worker.kill('SIGTERM');
    const stopping = await readyWhen(port, 503, 'the worker stopping');
    expect(stopping.body).toEqual({ status: 'stopping', checks: {} });
    expect((await health(port, '/health/live')).status).toBe(200);
    await exited;
    await system.control('alpha', { latency_ms: 0 });
  });
});

describe('a relay', () => {
  it('is ready standing by and leading; not ready while its database refuses it', async () => {
    // The test holds the leader lock, so the relay stands by.
    const lockName = `wallet-payments:outbox-relay:${system.env.RELAY_SLOT_NAME}`;
    const holder = new pg.Client({ connectionString: system.database.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(hashtext($1))', [lockName]);
      const holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      const relay = await system.startRelay();
      onTestFailed(() => {
        process.stderr.write(`relay:\n${relay.output().slice(-6000)}\n`);
      });
      const port = await relay.listening('metrics');

      expect(await health(port, '/health/live')).toEqual({ status: 200, body: { status: 'alive' } });
      const standby = await readyWhen(port, 200, 'the relay ready as a standby');
      expect(standby.body).toEqual({
        status: 'ready',
        checks: {
          role: { status: 'pass', detail: 'standby: another relay holds the leader lock' },
          database: { status: 'pass', detail: 'reachable' },
        },
      });

      await refuseConnections([holderPid as number]);
      try {
        const refused = await readyWhen(port, 503, 'the relay not ready');
        expect(refused.body).toMatchObject({
          status: 'not_ready',
          checks: { database: { status: 'fail', detail: 'unreachable' } },
        });
      } finally {
        await allowConnections();
      }
      await readyWhen(port, 200, 'the relay ready again as a standby');

      await holder.query('select pg_advisory_unlock(hashtext($1))', [lockName]);
      const leading = await waitFor(
        'the relay to lead and stream',
        async () => {
          const answer = await health(port, '/health/ready');
          return answer.body.checks?.role?.detail === 'leader: streaming' ? answer : undefined;
        },
        30_000,
        100,
      );
      expect(leading.status).toBe(200);
    } finally {
      await holder.end();
    }
  });
});
