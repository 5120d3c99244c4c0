import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { databaseUrl, loadConfig } from '../app/config.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError } from '../app/process/lifecycle.ts';
import { pacedLoad } from './lib/paced-load.ts';
import { pssBytes, rssBytes } from './lib/proc-memory.ts';
import { descendantsOf, liveProcesses } from './lib/process-tree.ts';
import { waitFor } from './lib/processes.ts';

/**
 * `npm run soak -- --minutes 60 --rate 20`: the system as `npm start` runs it, under a steady load
 * of payments through the HTTP API, with the memory of every process sampled from /proc.
 *
 * It runs scripts/start.ts itself, in a process group of its own, on a database of its own
 * (.data/soak/, emptied at every run; DATABASE_URL and KAFKA_BROKERS from the environment or .env
 * still win, as with npm start). Every --sample-seconds it prints one row: payments made, those
 * still on their way, the relay's lag, and the memory of each role, the local broker and Postgres
 * (RSS, MB; Postgres as the PSS summed over its processes, which share their buffers). At the end,
 * or on Ctrl-C, it stops the load and the system in order (the supervisor first stops its roles,
 * then the broker and Postgres) and prints the table with each column's first, highest and last
 * value. The supervisor's log is .data/soak/start.log, the samples .data/soak/samples.json.
 *   --minutes 5  --rate 20 (payments/s)  --sample-seconds 30  --amount 100
 * LOCAL_KAFKA_MAX_MEMORY_MB=0 runs the local broker without its memory bound, for comparison.
 */
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    rate: { type: 'string', default: '20' },
    'sample-seconds': { type: 'string', default: '30' },
    amount: { type: 'string', default: '100' },
  },
});
const minutes = Number(args.minutes);
const rate = Number(args.rate);
const sampleSeconds = Number(args['sample-seconds']);
const amount = Number(args.amount);
for (const [name, value] of Object.entries({ minutes, rate, sampleSeconds, amount }))
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, '.data/soak');
const say = (line: string) => process.stdout.write(`[soak] ${line}\n`);

// What scripts/start.ts is given: its own data, and room for the load (the fraud rule allows
// FRAUD_VELOCITY_PER_MINUTE payments per wallet a minute, so the load is spread over wallets).
const perWalletPerMinute = 20;
const wallets = Math.ceil((rate * 60) / perWalletPerMinute);
const soakEnv: Record<string, string> = {
  EMBEDDED_PG_DATA_DIR: path.join(dir, 'pg'),
  DEV_API_KEY_FILE: path.join(dir, 'dev-api-key'),
  GATEWAY_SIM_STATE_FILE: path.join(dir, 'gateway-sim.jsonl'),
  RATE_LIMIT_PER_SECOND: String(Math.max(50, Math.ceil(rate * 2))),
};
exitOnConfigError(() => loadEnvFile());
const env = { ...process.env, ...soakEnv };
const config = exitOnConfigError(() => loadConfig(env));
if (config.NODE_ENV === 'production')
  throw new Error('the soak makes its own API key: not with NODE_ENV=production');
const api = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const log = openSync(path.join(dir, 'start.log'), 'a');
say(`starting the system (scripts/start.ts; its log: ${path.relative(root, dir)}/start.log)`);
const supervisor = spawn(process.execPath, [path.join(root, 'scripts/start.ts')], {
  cwd: root,
  env,
  detached: true, // a group of its own: Ctrl-C here reaches this script only, which stops it in order
  stdio: ['ignore', log, log],
});
const group = supervisor.pid as number;
const supervisorExited = new Promise<number | null>((resolve) => supervisor.once('exit', resolve));
// Whatever happens to this script, nothing it started outlives it.
process.on('exit', () => {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {} // the group is gone already
});

interface Sample {
  at: string;
  seconds: number;
  payments: number;
  waiting: number;
  relayLagSeconds: number | undefined;
  brokerRestarts: number;
  rssMb: Record<string, number | undefined>;
}
const columns = ['api', 'worker', 'relay', 'gateway', 'broker', 'postgres', 'start'] as const;
const samples: Sample[] = [];
const startedAt = Date.now();
const db = new pg.Client({ connectionString: config.DATABASE_URL ?? databaseUrl(config) });
db.on('error', () => {}); // Postgres restarting or stopping: the next sample says NaN
let dbConnected = false;

const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 1024 / 1024);
/** Memory of each part, found afresh each time (roles restart; the broker is restarted at its bound). */
function memory(): Sample['rssMb'] {
  const all = liveProcesses();
  const tree = descendantsOf(group, all);
  const role = (entry: string) => tree.find((p) => p.command.includes(entry))?.pid;
  const rss = (pid: number | undefined) => (pid === undefined ? undefined : mb(rssBytes(pid)));
  const postmaster = tree.find((p) => / -D \S+ -p \d+/.test(p.command) && p.command.includes('postgres'));
  const postgres = postmaster ? [postmaster, ...descendantsOf(postmaster.pid, all)] : [];
  return {
    api: rss(role('app/main.ts')),
    worker: rss(role('workers/main.ts')),
    relay: rss(role('outbox-relay/main.ts')),
    gateway: rss(role('gateway-sim/main.ts')),
    broker: rss(role('/bin/mokapi')),
    postgres: postmaster ? mb(postgres.reduce((sum, p) => sum + (pssBytes(p.pid) ?? 0), 0)) : undefined,
    start: rss(group),
  };
}

async function relayLag(): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const match = /^outbox_relay_lag_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function sample(): Promise<Sample> {
  let payments = Number.NaN;
  let waiting = Number.NaN;
  try {
    const { rows } = await db.query<{ payments: string; waiting: string }>(
      "select count(*) as payments, count(*) filter (where status in ('PENDING', 'PROCESSING')) as waiting from payments",
    );
    payments = Number(rows[0]?.payments);
    waiting = Number(rows[0]?.waiting);
  } catch {} // the database is restarting or gone: the row says NaN
  const startLog = readFileSync(path.join(dir, 'start.log'), 'utf8');
  const row: Sample = {
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - startedAt) / 1000),
    payments,
    waiting,
    relayLagSeconds: await relayLag(),
    brokerRestarts: startLog.match(/the local broker holds \d+ MB/g)?.length ?? 0,
    rssMb: memory(),
  };
  samples.push(row);
  return row;
}

const header = ['time', 'payments', 'waiting', 'lag s', 'broker restarts', ...columns.map((c) => `${c} MB`)];
const cells = (s: Sample) => [
  `${Math.floor(s.seconds / 60)}:${String(s.seconds % 60).padStart(2, '0')}`,
  String(s.payments),
  String(s.waiting),
  s.relayLagSeconds === undefined ? '-' : s.relayLagSeconds.toFixed(1),
  String(s.brokerRestarts),
  ...columns.map((c) => (s.rssMb[c] === undefined ? '-' : (s.rssMb[c] as number).toFixed(0))),
];
const widths = header.map((h) => Math.max(h.length, 7));
const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] as number)).join(' ');

function summary(): string {
  const rows = [line(header), ...samples.map((s) => line(cells(s)))];
  if (samples.length > 0) {
    const first = samples[0] as Sample;
    const last = samples.at(-1) as Sample;
    const stat = (pick: (s: Sample) => number | undefined) => {
      const values = samples.map(pick).filter((v): v is number => v !== undefined && !Number.isNaN(v));
      return values.length ? Math.max(...values) : undefined;
    };
    const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(0));
    rows.push('', line(['', 'first', '', '', '', ...columns.map((c) => f(first.rssMb[c]))]));
    rows.push(line(['', 'highest', '', '', '', ...columns.map((c) => f(stat((s) => s.rssMb[c])))]));
    rows.push(line(['', 'last', '', '', '', ...columns.map((c) => f(last.rssMb[c]))]));
  }
  return rows.join('\n');
}

let finishing: Promise<void> | undefined;
const load = new AbortController();
/** Stops the load, samples once more, stops the system in order, prints the table. Once. */
function finish(reason: string): Promise<void> {
  finishing ??= (async () => {
    say(`${reason}: stopping the load`);
    load.abort();
    clearInterval(sampler);
    await loadDone.catch(() => {});
    if (supervisor.exitCode === null) print(await sample());
    if (dbConnected) await db.end().catch(() => {});
    if (supervisor.exitCode === null) {
      say('stopping the system (SIGINT to the supervisor, as Ctrl-C)');
      supervisor.kill('SIGINT');
      const code = await Promise.race([
        supervisorExited,
        new Promise<string>((r) => setTimeout(() => r('still running after 120 s'), 120_000).unref()),
      ]);
      say(`the supervisor ended: ${code}`);
    }
    // Anything of its group still there a few seconds after the supervisor is gone is named and
    // killed.
    const leftBehind = () => liveProcesses().filter((p) => p.pgid === group);
    await waitFor('the group to empty', async () => leftBehind().length === 0, 5000, 200).catch(() => {});
    for (const p of leftBehind()) say(`left behind, killed: ${p.pid} ${p.command.slice(0, 100)}`);
    try {
      process.kill(-group, 'SIGKILL');
    } catch {} // none left
    writeFileSync(path.join(dir, 'samples.json'), `${JSON.stringify(samples, null, 2)}\n`);
    process.stdout.write(`\n${summary()}\n`);
  })();
  return finishing;
}
process.on('SIGINT', () => {
  if (finishing) process.exit(130); // a second Ctrl-C: leave now (the exit hook kills the group)
  void finish('SIGINT').then(() => process.exit(130));
});
process.on('SIGTERM', () => void finish('SIGTERM').then(() => process.exit(143)));

const print = (s: Sample) => say(line(cells(s)));
let sampler: NodeJS.Timeout | undefined;
let loadDone: Promise<unknown> = Promise.resolve();

try {
  await waitFor(
    'the system to answer (see .data/soak/start.log)',
    async () => {
      if (supervisor.exitCode !== null) throw new Error(`the supervisor exited (${supervisor.exitCode})`);
      const ready = await fetch(`${api}/health/ready`).catch(() => undefined);
      return ready?.ok && existsSync(soakEnv.DEV_API_KEY_FILE as string);
    },
    240_000,
    500,
  );
  await db.connect();
  dbConnected = true;
  const key = readFileSync(soakEnv.DEV_API_KEY_FILE as string, 'utf8').trim();
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const post = async (url: string, body: unknown, idempotencyKey?: string) => {
    const res = await fetch(`${api}${url}`, {
      method: 'POST',
      headers: { ...headers, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  say(`${wallets} wallets, each funded for the whole run`);
  const walletIds: string[] = [];
  const needed = Math.ceil((rate * minutes * 60) / wallets) * amount * 2;
  for (let i = 0; i < wallets; i++) {
    const wallet = await post('/wallets', { currency: 'USD' });
    await post(`/wallets/${wallet.id}/deposits`, { amount: needed, reference: 'soak' }, `soak-${wallet.id}`);
    walletIds.push(wallet.id);
  }

  say(`${rate} payments/s for ${minutes} min; a row every ${sampleSeconds} s (memory in MB)`);
  say(line(header));
  print(await sample());
  sampler = setInterval(
    () =>
      void sample()
        .then(print)
        .catch((err) => say(`sample failed: ${(err as Error).message}`)),
    sampleSeconds * 1000,
  );
  let next = 0;
  loadDone = pacedLoad({
    origin: api,
    path: '/payments',
    rate,
    seconds: minutes * 60,
    signal: load.signal,
    request: () => ({
      headers: { ...headers, 'idempotency-key': crypto.randomUUID() },
      body: JSON.stringify({
        wallet_id: walletIds[next++ % walletIds.length],
        service_id: 'soak',
        amount,
        currency: 'USD',
      }),
    }),
  }).then((result) => {
    say(
      `load: ${result.sent} sent, ${result.non2xx} not 2xx, ${result.errors} errors; latency p50 ${result.latency.p50.toFixed(1)} ms, p99 ${result.latency.p99.toFixed(1)} ms`,
    );
    return result;
  });
  await loadDone;
  await finish('the run is over');
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  await finish('failure');
  process.exitCode = 1;
}
