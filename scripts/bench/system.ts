import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createApiKey, revokeApiKey } from '../../app/auth/api-keys.ts';
import { createDatabase, type Database } from '../../app/db/database.ts';
import { migrate } from '../../app/db/migrate.ts';
import { type RunningPostgres, startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { LOCAL_BROKER_RELAY_ENV, type LocalBroker, startLocalBroker } from '../lib/local-broker.ts';
import { type PacedLoadResult, pacedLoad } from '../lib/paced-load.ts';
import { freePort, freePorts, type RoleProcess, spawnRole, waitFor } from '../lib/processes.ts';
import { sleep } from './common.ts';

/** The relay's replication slot in the bench (RELAY_SLOT_NAME). */
export const RELAY_SLOT = 'bench_slot';

export interface BenchPorts {
  api: number;
  sim: number;
  /** Reassigned by setWorkers: read it when scraping, not before. */
  workerMetrics: number[];
  relayMetrics: number;
}

/**
 * The system under test, as the phases use it: embedded Postgres (or DATABASE_URL), the mokapi
 * broker, every role as its own process, the bench's API key and 50 funded wallets.
 */
export interface BenchSystem {
  /** DATABASE_URL when the bench runs against a database of the user's own. */
  external: string | undefined;
  url: string;
  database: Database;
  broker: LocalBroker;
  ports: BenchPorts;
  apiUrl: string;
  simUrl: string;
  /** The running roles by name (gateway-sim, api, relay, worker-1...). */
  procs: Record<string, RoleProcess>;
  wallets: string[];
  setWorkers(n: number): Promise<void>;
  /** Stops one role (it is no longer in procs). */
  stopRole(name: string): Promise<void>;
  control(provider: string, body: object): Promise<void>;
  /** Closed loop: `connections` clients, each sending its next payment when the last is answered. */
  paymentLoad(options: { seconds: number; connections: number }): Promise<autocannon.Result>;
  /** Open loop: payments arriving evenly at `rate` per second, whatever the latency. */
  pacedPayments(rate: number, seconds: number): Promise<PacedLoadResult>;
  /** Waits until no payment is PENDING or PROCESSING: the next measurement starts from a quiet system. */
  drain(): Promise<void>;
  teardown(): Promise<void>;
}

export async function startSystem(options: { profile: boolean; cpuProf: string[] }): Promise<BenchSystem> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-'));
  chmodSync(dir, 0o755);
  const external = process.env.DATABASE_URL;
  const pg: RunningPostgres | undefined = external
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: path.join(dir, 'pg'),
        port: await freePort(),
        database: 'bench',
        persistent: false,
        durable: true,
        settings: options.profile
          ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' }
          : {},
      });
  const url = external ?? (pg?.url as string);
  await migrate(url);
  const database = createDatabase(url, { max: 4, applicationName: 'bench' });
  // The bench's own key, and a rate limit it cannot reach: the bench measures the system, not the limiter's refusals.
  const { key: benchKey, row: benchKeyRow } = await createApiKey(database.db, {
    ownerId: 'bench',
    description: 'npm run bench',
  });
  const benchKeyId = benchKeyRow.id;
  const auth = { authorization: `Bearer ${benchKey}` };
  const [brokerPort, brokerApiPort] = await freePorts(2);
  const broker = await startLocalBroker({ port: brokerPort as number, apiPort: brokerApiPort as number });
  const ports: BenchPorts = {
    api: await freePort(),
    sim: await freePort(),
    workerMetrics: [] as number[],
    relayMetrics: await freePort(),
  };
  const apiUrl = `http://127.0.0.1:${ports.api}`;
  const simUrl = `http://127.0.0.1:${ports.sim}`;
  const env: Record<string, string> = {
    LOG_LEVEL: 'error',
    DATABASE_URL: url,
    KAFKA_BROKERS: broker.brokers,
    ...LOCAL_BROKER_RELAY_ENV,
    PORT: String(ports.api),
    DB_POOL_MAX: '20',
    GATEWAY_SIM_PORT: String(ports.sim),
    GATEWAY_BASE_URL: simUrl,
    GATEWAY_CALLBACK_BASE_URL: apiUrl,
    RELAY_METRICS_PORT: String(ports.relayMetrics),
    RELAY_SLOT_NAME: RELAY_SLOT,
    FRAUD_VELOCITY_PER_MINUTE: '1000000',
    WORKER_CONCURRENCY: '10',
    RATE_LIMIT_PER_SECOND: '100000',
  };
  const procs: Record<string, RoleProcess> = {};
  // Children must not outlive a failed run, even one that fails while starting them.
  process.on('exit', () => {
    for (const p of Object.values(procs)) p.child.kill('SIGKILL');
    broker.process.kill('SIGKILL');
  });

  const dumpChildren = () => {
    for (const [name, p] of Object.entries(procs)) {
      process.stderr.write(
        `--- ${name} (exit ${p.child.exitCode ?? p.child.signalCode ?? 'running'})\n${p.output().slice(-1500)}\n`,
      );
    }
  };
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    dumpChildren();
    process.exit(2);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    dumpChildren();
    process.exit(2);
  });
  const start = (name: string, entry: string, extra: Record<string, string> = {}) => {
    procs[name] = spawnRole(entry, { ...env, ...extra }, options.cpuProf);
  };
  start('gateway-sim', 'gateway-sim/main.ts');
  start('api', 'app/main.ts');
  start('relay', 'outbox-relay/main.ts');
  await waitFor('api', async () => (await fetch(`${apiUrl}/health/ready`)).ok, 30_000);
  await waitFor('simulator', async () => (await fetch(`${simUrl}/health`)).ok, 30_000);

  async function setWorkers(n: number) {
    for (const name of Object.keys(procs).filter((k) => k.startsWith('worker-'))) {
      await procs[name]?.kill('SIGTERM');
      delete procs[name];
    }
    ports.workerMetrics = [];
    for (let i = 1; i <= n; i++) {
      const port = await freePort();
      ports.workerMetrics.push(port);
      start(`worker-${i}`, 'workers/main.ts', { WORKER_METRICS_PORT: String(port) });
    }
    await waitFor(
      'workers',
      async () => {
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from process_heartbeats where role = 'worker' and last_seen_at > now() - interval '3 seconds'`.execute(
          database.db,
        );
        return (rows[0]?.n ?? 0) >= n;
      },
      30_000,
    );
  }

  async function stopRole(name: string) {
    await procs[name]?.kill('SIGTERM');
    delete procs[name];
  }

  /**
   * Sets gateway faults. Retried: after a long pause (pgbench) the pooled keep-alive socket may be
   * closed by the simulator just as it is reused ("other side closed").
   */
  async function control(provider: string, body: object): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${simUrl}/${provider}/_control`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        await res.text();
        if (res.ok) return;
        throw new Error(`control answered ${res.status}`);
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(200);
      }
    }
  }

  const wallets: string[] = [];
  for (let i = 0; i < 50; i++) {
    const w = await (
      await fetch(`${apiUrl}/wallets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ currency: 'USD' }),
      })
    ).json();
    await fetch(`${apiUrl}/wallets/${w.id}/deposits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `seed-${w.id}`, ...auth },
      body: JSON.stringify({ amount: 900_000_000_000 }),
    });
    wallets.push(w.id);
  }

  let keySeq = 0;
  function paymentRequest() {
    const seq = keySeq++;
    return {
      headers: {
        'content-type': 'application/json',
        'idempotency-key': `bench-${process.pid}-${seq}`,
        ...auth,
      },
      body: JSON.stringify({
        wallet_id: wallets[seq % wallets.length],
        service_id: 'bench',
        amount: 100,
        currency: 'USD',
      }),
    };
  }
  function paymentLoad(load: { seconds: number; connections: number }) {
    return autocannon({
      url: `${apiUrl}/payments`,
      method: 'POST',
      connections: load.connections,
      duration: load.seconds,
      requests: [{ setupRequest: (req) => ({ ...req, ...paymentRequest() }) }],
    });
  }
  const pacedPayments = (rate: number, seconds: number) =>
    pacedLoad({ origin: apiUrl, path: '/payments', rate, seconds, request: paymentRequest });

  async function drain() {
    await waitFor(
      'payments to settle',
      async () => {
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from payments where status in ('PENDING','PROCESSING')`.execute(
          database.db,
        );
        return rows[0]?.n === 0;
      },
      900_000,
      500,
    );
  }

  async function teardown() {
    for (const p of Object.values(procs)) await p.kill('SIGTERM');
    await broker.stop();
    // Against a database of the user's own (DATABASE_URL), the bench's key is not left active.
    await revokeApiKey(database.db, benchKeyId);
    await database.close();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  return {
    external,
    url,
    database,
    broker,
    ports,
    apiUrl,
    simUrl,
    procs,
    wallets,
    setWorkers,
    stopRole,
    control,
    paymentLoad,
    pacedPayments,
    drain,
    teardown,
  };
}

/** Peak memory (VmHWM, MB) of every role still running. */
export function peakMemory(procs: Record<string, RoleProcess>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(procs).map(([name, p]) => {
      const status = existsSync(`/proc/${p.pid}/status`) ? readFileSync(`/proc/${p.pid}/status`, 'utf8') : '';
      return [name, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024];
    }),
  );
}
