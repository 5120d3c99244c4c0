import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createApiKey, revokeApiKey } from '../app/auth/api-keys.ts';
import { createDatabase } from '../app/db/database.ts';
import { migrate } from '../app/db/migrate.ts';
import { SAGA_TASKS } from '../app/payments/saga-definition.ts';
import { benchmarkChart } from './lib/bench-chart.ts';
import { cpuDelta, cpuSeconds, resetStatements, topStatements } from './lib/bench-profile.ts';
import { startEmbeddedPostgres } from './lib/embedded-postgres.ts';
import { LOCAL_BROKER_RELAY_ENV, startLocalBroker } from './lib/local-broker.ts';
import { type PacedLoadResult, pacedLoad } from './lib/paced-load.ts';
import { freePort, freePorts, type RoleProcess, spawnRole, waitFor } from './lib/processes.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * `npm run bench`: the whole system on this machine, durability on (fsync, synchronous_commit),
 * measured against the database's own limit in the same run:
 *   baseline pgbench -N (8 clients, 20 s) on the same Postgres instance, and the ceiling: the
 *   payment's necessary SQL alone (scripts/bench/ceiling-payment.pgbench, 3 transactions each);
 *   end-to-end payments/s at saturation (request -> COMPLETED), gateway latency 0 and 50 ms;
 *   POST /payments latency at fixed arrival rates (evenly paced, open loop), and with workers stopped;
 *   job pickup and relay commit-to-ack latency (the processes' own histograms), at light load;
 *   the relay alone at RELAY_RATE events/s;
 *   peak memory per process; throughput with 1, 2 and 4 workers;
 *   errors and invariants (audits, replay) after it all.
 * Medians of RUNS runs (default 3). Writes docs/benchmarks.md and docs/benchmarks.svg.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 15);
/** For quick A/B checks, a subset: BENCH_PHASES=throughput (default: all of these). */
const ALL_PHASES = ['pgbench', 'throughput', 'latency', 'light', 'relay', 'scaling'];
/** The relay phase's target rate (events/s) and duration. */
const RELAY_RATE = 1000;
const RELAY_SECONDS = 20;
const PHASES = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(','));
/** BENCH_PROFILE=1: CPU per process and Postgres' top statements in the first 0 ms run and the light phase. */
const PROFILE = process.env.BENCH_PROFILE === '1';
/** Fixed arrival rates for POST /payments latency: one below the saga's capacity, then the targets'. */
const LATENCY_RATES = [25, 100, 200, 300];
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.floor((s.length - 1) / 2)] as number) / 2 + (s[Math.ceil((s.length - 1) / 2)] as number) / 2;
};
const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- system
const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-'));
chmodSync(dir, 0o755);
const external = process.env.DATABASE_URL;
const pg = external
  ? undefined
  : await startEmbeddedPostgres({
      dataDir: path.join(dir, 'pg'),
      port: await freePort(),
      database: 'bench',
      persistent: false,
      durable: true,
      settings: PROFILE
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
const ports = {
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
  RELAY_SLOT_NAME: 'bench_slot',
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
/** BENCH_CPU_PROF=<dir>: every role writes a V8 CPU profile there when it stops. */
const cpuProf = process.env.BENCH_CPU_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`]
  : [];
const start = (name: string, entry: string, extra: Record<string, string> = {}) => {
  procs[name] = spawnRole(entry, { ...env, ...extra }, cpuProf);
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
/** Closed loop: `connections` clients, each sending its next payment when the last is answered. */
function paymentLoad(options: { seconds: number; connections: number }) {
  return autocannon({
    url: `${apiUrl}/payments`,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    requests: [{ setupRequest: (req) => ({ ...req, ...paymentRequest() }) }],
  });
}
/** Open loop: payments arriving evenly at `rate` per second, whatever the latency. */
const pacedPayments = (rate: number, seconds: number) =>
  pacedLoad({ origin: apiUrl, path: '/payments', rate, seconds, request: paymentRequest });

/** Waits until no payment is PENDING or PROCESSING: the next measurement starts from a quiet system. */
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

/** Drives payments at saturation, then waits for every one to settle: completed payments per second. */
async function throughput(gatewayLatencyMs: number) {
  await control('alpha', { latency_ms: gatewayLatencyMs });
  const t0 = new Date();
  const load = await paymentLoad({ seconds: LOAD_SECONDS, connections: 32 });
  await waitFor(
    'payments to settle',
    async () => {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from payments where created_at >= ${t0} and status in ('PENDING','PROCESSING')`.execute(
        database.db,
      );
      return rows[0]?.n === 0;
    },
    600_000,
    500,
  );
  const { rows } = await sql<{ completed: number; other: number; last: Date }>`
    select count(*) filter (where status = 'COMPLETED')::int as completed, count(*) filter (where status <> 'COMPLETED')::int as other,
           max(completed_at) as last from payments where created_at >= ${t0}`.execute(database.db);
  const r = rows[0] as { completed: number; other: number; last: Date };
  const seconds = (r.last.getTime() - t0.getTime()) / 1000;
  return {
    perSecond: r.completed / seconds,
    completed: r.completed,
    notCompleted: r.other,
    non2xx: load.non2xx,
    errors: load.errors,
  };
}

/** A histogram's buckets summed over its series (or only the series whose labels contain `only`). */
async function scrapeHistogram(port: number, name: string, only?: string) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\d+(?:\\.\\d+)?)`, 'gm'))) {
    if (only && !(m[1] as string).includes(only)) continue;
    const le = /le="([^"]+)"/.exec(m[1] as string)?.[1] as string;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  return buckets;
}
function quantile(buckets: Map<number, number>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return Number.NaN;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= q * total) {
      if (!Number.isFinite(bound)) return prevBound;
      return prevBound + ((bound - prevBound) * (q * total - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
const merge = (maps: Map<number, number>[]) => {
  const out = new Map<number, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
};

// ---------------------------------------------------------------- baseline: pgbench -N
function pgbenchBinary(): string {
  for (const candidate of [
    'pgbench',
    ...['18', '17', '16', '15'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`),
  ]) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  if (process.getuid?.() === 0) {
    say('pgbench not found: installing postgresql-client with apt-get');
    execFileSync('apt-get', ['update', '-qq']);
    execFileSync('apt-get', ['install', '-y', '-qq', 'postgresql-client']);
    return 'pgbench';
  }
  throw new Error('pgbench is needed for the baseline: install postgresql-client');
}
const pgbench = PHASES.has('pgbench') ? pgbenchBinary() : 'pgbench';
const pgbenchUrl = Object.assign(new URL(url), { pathname: '/pgbench' }).toString();
if (PHASES.has('pgbench')) {
  await database.pool.query('create database pgbench').catch(() => {});
  execFileSync(pgbench, ['-i', '-q', '-s', '8', pgbenchUrl], { stdio: 'ignore' });
  // The payment's necessary SQL on tables of its own (scripts/bench/ceiling-schema.sql).
  const ceilingDb = createDatabase(pgbenchUrl, { max: 1, applicationName: 'bench ceiling setup' });
  await ceilingDb.pool.query(readFileSync(path.join(root, 'scripts/bench/ceiling-schema.sql'), 'utf8'));
  await ceilingDb.close();
}
function runPgbench(args: string[] = ['-N']): number {
  const out = execFileSync(pgbench, [...args, '-n', '-c', '8', '-j', '2', '-T', '20', pgbenchUrl]).toString();
  return Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
}
/** Payments/s of the payment's necessary SQL alone (3 transactions each), the ceiling (issue 14). */
const runCeiling = () =>
  runPgbench(['-M', 'extended', '-f', path.join(root, 'scripts/bench/ceiling-payment.pgbench')]);

// ---------------------------------------------------------------- profile (BENCH_PROFILE=1)
/** Postgres backends by what they serve (application_name or backend type), read before each sample. */
let backendNames = new Map<number, string>();
async function readBackendNames() {
  const { rows } = await database.pool.query<{ pid: number; name: string }>(
    `select pid, coalesce(nullif(application_name, ''), backend_type) as name from pg_stat_activity`,
  );
  backendNames = new Map(rows.map((r) => [r.pid, `pg: ${r.name}`]));
}
function processGroup(cmdline: string, pid: number): string | undefined {
  if (pid === process.pid) return 'bench + autocannon';
  const role = Object.entries(procs).find(([, p]) => p.pid === pid)?.[0];
  if (role) return role;
  if (pid === broker.process.pid || cmdline.includes('mokapi')) return 'mokapi';
  if (/^postgres:|\/bin\/postgres /.test(cmdline)) return backendNames.get(pid) ?? 'pg: other';
  return undefined;
}
async function printProfile(cpu: Map<string, number>, payments: number) {
  say(`profile: CPU seconds per process over the run (${payments} payments completed)`);
  const total = [...cpu.values()].reduce((a, b) => a + b, 0);
  say(`  total                ${total.toFixed(1)} s  ${((total / payments) * 1000).toFixed(2)} ms/payment`);
  for (const [group, seconds] of [...cpu].sort((a, b) => b[1] - a[1]))
    say(
      `  ${group.padEnd(20)} ${seconds.toFixed(1)} s  ${((seconds / payments) * 1000).toFixed(2)} ms/payment`,
    );
  for (const toplevel of [true, false]) {
    say(`profile: ${toplevel ? 'top-level' : 'nested'} statements by total execution time`);
    for (const st of await topStatements(database.pool, toplevel))
      say(
        `  ${String(st.totalMs.toFixed(0)).padStart(7)} ms  ${(st.calls / payments).toFixed(2).padStart(6)}/payment  ${st.meanMs.toFixed(3)} ms  ${st.query.slice(0, 150)}`,
      );
  }
}

/** Starts a profile; the function it returns prints it, for the payments made since. */
/**
 * CPU ms per payment, split: the system's own (API, workers, relay and every Postgres process but
 * the bench's own connections) and the stand-ins (the gateway simulator, the mokapi broker). The
 * bench and its load generator are neither.
 */
function cpuShares(cpu: Map<string, number>, payments: number) {
  let system = 0;
  let standIns = 0;
  for (const [group, seconds] of cpu) {
    if (group === 'gateway-sim' || group === 'mokapi') standIns += seconds;
    else if (group === 'bench + autocannon' || /^pg: (bench|pgbench)/.test(group)) continue;
    else system += seconds;
  }
  return { system: (system * 1000) / payments, standIns: (standIns * 1000) / payments };
}

async function startProfile(): Promise<(payments: number) => Promise<void>> {
  await resetStatements(database.pool);
  await readBackendNames();
  const before = cpuSeconds(processGroup);
  return async (payments) => {
    await readBackendNames(); // backends that connected meanwhile
    await printProfile(cpuDelta(before, cpuSeconds(processGroup)), payments);
  };
}

// ---------------------------------------------------------------- the runs
interface LatencySlot {
  p50: number[];
  p90: number[];
  p97_5: number[];
  p99: number[];
}
function recordLatency(slot: LatencySlot, r: PacedLoadResult) {
  results.errors += r.non2xx + r.errors;
  slot.p50.push(r.latency.p50);
  slot.p90.push(r.latency.p90);
  slot.p97_5.push(r.latency.p97_5);
  slot.p99.push(r.latency.p99);
}
const results = {
  pgbench: [] as number[],
  /** Payments/s of the necessary SQL alone (scripts/bench/ceiling-payment.pgbench). */
  ceiling: [] as number[],
  e2e0: [] as number[],
  e2e50: [] as number[],
  lat: {} as Record<number, LatencySlot>,
  apiAlone: { p50: [], p90: [], p97_5: [], p99: [] } as LatencySlot,
  errors: 0,
  scaling: {} as Record<number, number[]>,
  /** CPU ms per payment in the 0 ms runs: the system's own processes and Postgres, and the stand-ins. */
  cpuSystem: [] as number[],
  cpuStandIns: [] as number[],
  /** Commits in the database during a 0 ms run, per payment completed: the whole system's, measured. */
  txPerPayment: [] as number[],
};
/**
 * Postgres' own count of committed transactions in the application's database. Idle backends
 * report their counts up to 10 s late (PGSTAT_IDLE_INTERVAL): wait that long first.
 */
async function committedTransactions(): Promise<number> {
  await sleep(11_000);
  const { rows } = await database.pool.query<{ n: string }>(
    'select xact_commit::text as n from pg_stat_database where datname = current_database()',
  );
  await database.pool.query('select pg_stat_clear_snapshot()');
  return Number(rows[0]?.n);
}
await setWorkers(1);
for (let run = 1; run <= RUNS; run++) {
  if (PHASES.has('pgbench')) {
    say(`run ${run}/${RUNS}: pgbench -N`);
    results.pgbench.push(runPgbench());
    say(`run ${run}/${RUNS}: the payment's necessary SQL (ceiling)`);
    results.ceiling.push(runCeiling());
  }
  if (PHASES.has('throughput')) {
    say(`run ${run}/${RUNS}: end-to-end throughput, gateway 0 ms`);
    const profile = PROFILE && run === 1 ? await startProfile() : undefined;
    const commits0 = await committedTransactions();
    await readBackendNames();
    const cpu0 = cpuSeconds(processGroup);
    const t0 = await throughput(0);
    await readBackendNames(); // backends that connected meanwhile
    const cpu = cpuDelta(cpu0, cpuSeconds(processGroup));
    results.txPerPayment.push(((await committedTransactions()) - commits0) / Math.max(1, t0.completed));
    const shares = cpuShares(cpu, Math.max(1, t0.completed));
    results.cpuSystem.push(shares.system);
    results.cpuStandIns.push(shares.standIns);
    await profile?.(t0.completed);
    results.e2e0.push(t0.perSecond);
    say(`run ${run}/${RUNS}: end-to-end throughput, gateway 50 ms`);
    const t50 = await throughput(50);
    results.e2e50.push(t50.perSecond);
    results.errors += t0.non2xx + t0.errors + t0.notCompleted + t50.non2xx + t50.errors + t50.notCompleted;
    await control('alpha', { latency_ms: 0 });
  }
  for (const rate of PHASES.has('latency') ? LATENCY_RATES : []) {
    say(`run ${run}/${RUNS}: POST /payments at ${rate} requests/s`);
    results.lat[rate] ??= { p50: [], p90: [], p97_5: [], p99: [] };
    recordLatency(results.lat[rate], await pacedPayments(rate, 8));
    // A rate above capacity leaves a backlog: let it finish before the next measurement.
    await drain();
  }
  if (PHASES.has('latency')) {
    // The API's own share: the same 200/s with no worker competing for the two cores (the jobs
    // wait in the queue and run once the workers are back).
    say(`run ${run}/${RUNS}: POST /payments at 200 requests/s, workers stopped`);
    await setWorkers(0);
    recordLatency(results.apiAlone, await pacedPayments(200, 8));
    await setWorkers(1);
    await drain();
  }
}
const scrapePickup = async (only?: string) =>
  merge(
    await Promise.all(ports.workerMetrics.map((p) => scrapeHistogram(p, 'job_pickup_latency_seconds', only))),
  );
const scrapeRelayLag = () => scrapeHistogram(ports.relayMetrics, 'outbox_relay_commit_to_ack_seconds');
const pickup = await scrapePickup();
const relayLag = await scrapeRelayLag();

// A light, steady load below capacity: pickup and relay lag as they are when the system keeps up
// (the whole-run histograms above include the backlog that saturation builds).
const light = { pickup: new Map<number, number>(), relay: new Map<number, number>() };
const lightTasks = Object.values(SAGA_TASKS).slice(0, 3);
const minus = (after: Map<number, number>, before: Map<number, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
if (PHASES.has('light')) {
  say('light load: 10 payments/s for 20 s');
  const [p0, r0] = [await scrapePickup(), await scrapeRelayLag()];
  const tasksBefore = await Promise.all(lightTasks.map((t) => scrapePickup(`task="${t}"`)));
  const profile = PROFILE ? await startProfile() : undefined;
  const r = await pacedPayments(10, 20);
  results.errors += r.non2xx + r.errors;
  await drain();
  await profile?.(r.sent);
  await sleep(1000);
  const [p1, r1] = [await scrapePickup(), await scrapeRelayLag()];
  light.pickup = minus(p1, p0);
  light.relay = minus(r1, r0);
  // Per task: the first step's wait includes the API's transaction, the others a worker's.
  for (const [i, task] of lightTasks.entries()) {
    const p = minus(await scrapePickup(`task="${task}"`), tasksBefore[i] as Map<number, number>);
    say(
      `  pickup ${task}: p50 ${(quantile(p, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(p, 0.99) * 1000).toFixed(1)} ms`,
    );
  }
}
/** Events the relay has acknowledged since it started, all topics. */
async function relayedEvents(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ports.relayMetrics}/metrics`)).text();
  return [...text.matchAll(/^outbox_relay_events_total\{[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}
const relayEvents = await relayedEvents();

// The relay alone at RELAY_RATE events/s: the saga cannot produce that many events on this machine,
// so existing events are re-published (outbox__republish, the operators' function: same messages,
// same sizes, new outbox rows; consumers drop the duplicates by event_id, state is untouched).
// 10 events per transaction, one transaction every 10 ms, evenly spaced.
const relayPhase = { lag: new Map<number, number>(), rate: Number.NaN };
if (PHASES.has('relay')) {
  say(`relay: ${RELAY_RATE} events/s for ${RELAY_SECONDS} s (re-published events)`);
  const { rows } = await database.pool.query<{ lo: string; hi: string }>(
    'select min(position)::text as lo, max(position)::text as hi from events',
  );
  const [lo, hi] = [Number(rows[0]?.lo), Number(rows[0]?.hi)];
  const perTx = 10;
  const [lag0, events0] = [await scrapeRelayLag(), await relayedEvents()];
  const started = performance.now();
  const txs = (RELAY_RATE / perTx) * RELAY_SECONDS;
  for (let i = 0; i < txs; i++) {
    const wait = started + (i * 1000 * perTx) / RELAY_RATE - performance.now();
    if (wait > 1) await sleep(wait);
    const from = lo + ((i * perTx) % Math.max(perTx, hi - lo + 1 - perTx));
    await database.pool.query('select outbox__republish($1, $2)', [from, from + perTx - 1]);
  }
  const generated = (performance.now() - started) / 1000;
  await waitFor(
    'the relay to catch up',
    async () => (await relayedEvents()) - events0 >= txs * perTx,
    300_000,
    200,
  );
  relayPhase.lag = minus(await scrapeRelayLag(), lag0);
  relayPhase.rate = (txs * perTx) / generated;
  say(`  generated ${relayPhase.rate.toFixed(0)} events/s`);
}

for (const workers of PHASES.has('scaling') ? [1, 2, 4] : []) {
  await setWorkers(workers);
  results.scaling[workers] = [];
  for (let run = 1; run <= RUNS; run++) {
    say(`scaling: ${workers} worker process(es), run ${run}/${RUNS}`);
    results.scaling[workers]?.push((await throughput(0)).perSecond);
  }
}

const memory = Object.fromEntries(
  Object.entries(procs).map(([name, p]) => {
    const status = existsSync(`/proc/${p.pid}/status`) ? readFileSync(`/proc/${p.pid}/status`, 'utf8') : '';
    return [name, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024];
  }),
);
// Timed: the workers run the same audit every minute over whole tables, so its cost grows with the data.
const auditStarted = performance.now();
const audit = (
  await sql<{ discrepancies: number }>`select discrepancies from audit__run(interval '1 hour')`.execute(
    database.db,
  )
).rows[0];
const auditMs = performance.now() - auditStarted;
const replayStarted = performance.now();
const replayDiff = (await sql`select * from replay__verify()`.execute(database.db)).rows.length;
const replayMs = performance.now() - replayStarted;
const { rows: counts } = await sql<{ payments: number; events: number; txPerPayment: number }>`
  select (select count(*)::int from payments) as payments, (select count(*)::int from events) as events`.execute(
  database.db,
);

// ---------------------------------------------------------------- report
const TX_PER_PAYMENT = median(results.txPerPayment);
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const base = median(results.pgbench);
const ceiling = median(results.ceiling);
const e2e0 = median(results.e2e0);
const e2e50 = median(results.e2e50);
const rows: Array<[string, string, string]> = [
  ['pgbench -N, 8 clients, 20 s (tps)', f(base, 0), 'baseline'],
  [
    "the payment's necessary SQL, 8 clients, 20 s (payments/s)",
    f(ceiling, 0),
    'ceiling: create, debit, complete; 3 transactions each (scripts/bench/ceiling-payment.pgbench)',
  ],
  [
    'payments/s end to end, gateway 0 ms',
    f(e2e0),
    `${f((100 * e2e0) / ceiling)}% of the ceiling; x ${f(TX_PER_PAYMENT)} tx/payment (commits counted by Postgres) = ${f(e2e0 * TX_PER_PAYMENT, 0)} tx/s = ${f((100 * e2e0 * TX_PER_PAYMENT) / base)}% of pgbench`,
  ],
  ['payments/s end to end, gateway 50 ms', f(e2e50), `${f((100 * e2e50) / e2e0)}% of the 0 ms figure`],
  [
    'CPU ms per payment, gateway 0 ms: the system / the stand-ins',
    `${f(median(results.cpuSystem))} / ${f(median(results.cpuStandIns))}`,
    "system: API, workers, relay and Postgres (not the bench's connections); stand-ins: gateway simulator, mokapi",
  ],
  ...LATENCY_RATES.map((rate) => {
    const l = results.lat[rate] ?? { p50: [], p90: [], p97_5: [], p99: [] };
    return [
      `POST /payments at ${rate}/s: p50 / p90 / p97.5 / p99 (ms)`,
      `${f(median(l.p50))} / ${f(median(l.p90))} / ${f(median(l.p97_5))} / ${f(median(l.p99))}`,
      'open loop, evenly paced',
    ] as [string, string, string];
  }),
  [
    'POST /payments at 200/s, workers stopped: p50 / p90 / p97.5 / p99 (ms)',
    `${f(median(results.apiAlone.p50))} / ${f(median(results.apiAlone.p90))} / ${f(median(results.apiAlone.p97_5))} / ${f(median(results.apiAlone.p99))}`,
    'the API alone on the 2 cores',
  ],
  [
    'job pickup p50 / p99 (ms) at 10 payments/s',
    `${f(quantile(light.pickup, 0.5) * 1000)} / ${f(quantile(light.pickup, 0.99) * 1000)}`,
    'run_at (enqueued) -> start, first attempts, one 20 s run',
  ],
  [
    'relay commit -> Kafka ack p50 / p99 (ms) at 10 payments/s',
    `${f(quantile(light.relay, 0.5) * 1000)} / ${f(quantile(light.relay, 0.99) * 1000)}`,
    'about 70 events/s, one 20 s run',
  ],
  [
    `relay commit -> Kafka ack p50 / p99 (ms) at ${RELAY_RATE} events/s`,
    `${f(quantile(relayPhase.lag, 0.5) * 1000)} / ${f(quantile(relayPhase.lag, 0.99) * 1000)}`,
    `re-published events, ${f(relayPhase.rate, 0)} events/s generated for ${RELAY_SECONDS} s, one run`,
  ],
  [
    'job pickup p50 / p99 (ms), whole run',
    `${f(quantile(pickup, 0.5) * 1000)} / ${f(quantile(pickup, 0.99) * 1000)}`,
    'includes the backlog saturation builds; 10000 = the top bucket',
  ],
  [
    'relay commit -> Kafka ack p50 / p99 (ms), whole run',
    `${f(quantile(relayLag, 0.5) * 1000)} / ${f(quantile(relayLag, 0.99) * 1000)}`,
    `${relayEvents} events relayed`,
  ],
  ...[1, 2, 4].map(
    (w) =>
      [`payments/s with ${w} worker process(es)`, f(median(results.scaling[w] ?? [])), 'gateway 0 ms'] as [
        string,
        string,
        string,
      ],
  ),
  [
    'peak memory (MB, VmHWM)',
    Object.entries(memory)
      .map(([k, v]) => `${k} ${f(v, 0)}`)
      .join(', '),
    'mokapi and Postgres not included',
  ],
  ['errors (non-2xx, socket errors, payments not COMPLETED)', String(results.errors), 'must be 0'],
  [
    'invariants after the run',
    `audit discrepancies ${audit?.discrepancies}, replay differences ${replayDiff}`,
    `${counts[0]?.payments} payments, ${counts[0]?.events} events`,
  ],
  [
    'audit__run / replay__verify duration (ms)',
    `${f(auditMs, 0)} / ${f(replayMs, 0)}`,
    'over the data above; the audit runs every minute (cron)',
  ],
];
const width = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(`\n${rows.map(([a, b, c]) => `${a.padEnd(width)}  ${b}   (${c})`).join('\n')}\n\n`);

const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${f(os.totalmem() / 2 ** 30, 0)} GiB, Node ${process.version}, ${external ? 'external Postgres' : 'embedded Postgres 18 (fsync on, synchronous_commit on)'}, mokapi broker`;
const markdown = `| measurement | median of ${RUNS} runs | note |\n|---|---|---|\n${rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`).join('\n')}\n`;
const docPath = path.resolve('docs/benchmarks.md');
const fullRun = ALL_PHASES.every((p) => PHASES.has(p));
if (fullRun && existsSync(docPath)) {
  const doc = readFileSync(docPath, 'utf8');
  const stamped = `<!-- bench:start -->\nMeasured ${new Date().toISOString().slice(0, 16)}Z on ${machine}; load ${LOAD_SECONDS} s per throughput run.\n\n${markdown}<!-- bench:end -->`;
  writeFileSync(docPath, doc.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, stamped));
}
if (fullRun)
  writeFileSync(
    path.resolve('docs/benchmarks.svg'),
    benchmarkChart({
      pgbench: base,
      txPerPayment: TX_PER_PAYMENT,
      e2e0,
      e2e50,
      scaling: Object.fromEntries([1, 2, 4].map((w) => [w, median(results.scaling[w] ?? [])])),
      p99: Object.fromEntries(LATENCY_RATES.map((r) => [r, median(results.lat[r]?.p99 ?? [])])),
      apiAloneP99: median(results.apiAlone.p99),
      pickupP50: quantile(light.pickup, 0.5) * 1000,
      relayP99: quantile(relayPhase.lag, 0.99) * 1000,
    }),
  );
if (fullRun) say('wrote docs/benchmarks.md (the table between the bench markers) and docs/benchmarks.svg');

// ---------------------------------------------------------------- teardown
for (const p of Object.values(procs)) await p.kill('SIGTERM');
await broker.stop();
// Against a database of the user's own (DATABASE_URL), the bench's key is not left active.
await revokeApiKey(database.db, benchKeyId);
await database.close();
await pg?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(results.errors === 0 && audit?.discrepancies === 0 && replayDiff === 0 ? 0 : 1);
