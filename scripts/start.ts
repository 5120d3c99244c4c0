import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig, logFormat } from '../app/config.ts';
import { migrate } from '../app/db/migrate.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError } from '../app/process/lifecycle.ts';
import { ensureDevApiKey } from './lib/dev-api-key.ts';
import { type RunningPostgres, startEmbeddedPostgres } from './lib/embedded-postgres.ts';
import { LOCAL_BROKER_RELAY_ENV } from './lib/local-broker.ts';
import { type SupervisedBroker, superviseLocalBroker } from './lib/local-broker-supervisor.ts';
import { mokapiBinary } from './lib/mokapi-binary.ts';
import { pipeRoleOutput, roleLinePrinter } from './lib/role-output.ts';

/**
 * `npm start`: the whole system on one machine for a newcomer. Starts embedded Postgres (unless
 * DATABASE_URL is set), migrates, then runs each role as its own process and restarts a role that
 * dies; the local broker likewise (unless KAFKA_BROKERS is set), kept within a memory bound. Each
 * role's JSON log records are printed as readable lines behind its name (LOG_FORMAT).
 * Ctrl-C stops the roles first, then the broker and Postgres.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
const envFile = exitOnConfigError(() => loadEnvFile());
if (envFile) say(`environment from ${envFile.file}: ${envFile.applied} variables (those already set kept)`);
const config = exitOnConfigError(loadConfig);
// Before anything starts: without a broker binary for this platform there is nothing to start.
if (!config.KAFKA_BROKERS) exitOnConfigError(() => mokapiBinary());
let stopping = false;

let postgres: RunningPostgres | undefined;
let databaseUrl = config.DATABASE_URL;
if (!databaseUrl) {
  const dataDir = path.resolve(root, config.EMBEDDED_PG_DATA_DIR);
  say(`starting embedded Postgres (data: ${dataDir}, port ${config.EMBEDDED_PG_PORT})`);
  postgres = await startEmbeddedPostgres({
    dataDir,
    port: config.EMBEDDED_PG_PORT,
    database: 'payments',
    persistent: true,
    durable: true,
    maxSlotWalKeepSize: config.EMBEDDED_PG_MAX_SLOT_WAL_KEEP_SIZE,
  });
  databaseUrl = postgres.url;
}
say('applying migrations');
await migrate(databaseUrl);
// A development convenience: never in production, where keys are made by an operator.
const devKeyFile = path.resolve(root, config.DEV_API_KEY_FILE);
const devKey = config.NODE_ENV === 'production' ? undefined : await ensureDevApiKey(databaseUrl, devKeyFile);

let broker: SupervisedBroker | undefined;
let kafkaBrokers = config.KAFKA_BROKERS;
if (!kafkaBrokers) {
  say('starting the local Kafka-protocol broker (mokapi, validating docs/asyncapi.yaml)');
  broker = await superviseLocalBroker({
    port: 9092,
    apiPort: config.LOCAL_KAFKA_DASHBOARD_PORT,
    maxRssMb: config.LOCAL_KAFKA_MAX_MEMORY_MB,
    say,
  });
  kafkaBrokers = broker.brokers;
}

interface Role {
  name: string;
  /** The prefix of its lines. */
  label: string;
  entry: string;
  child?: ChildProcess;
  restarts: number;
}
const roles: Role[] = [
  { name: 'gateway-sim', label: 'gateway', entry: 'gateway-sim/main.ts', restarts: 0 },
  { name: 'api', label: 'api', entry: 'app/main.ts', restarts: 0 },
  { name: 'worker', label: 'worker', entry: 'workers/main.ts', restarts: 0 },
  { name: 'relay', label: 'relay', entry: 'outbox-relay/main.ts', restarts: 0 },
];
// JSON untouched (production, LOG_FORMAT=json): what a log collector reads, line for line.
const pretty = logFormat(config) === 'pretty';
const colorize = Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined;

function launch(role: Role, env: NodeJS.ProcessEnv): void {
  const child = spawn(process.execPath, [path.join(root, role.entry)], {
    cwd: root,
    env,
    stdio: pretty ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (pretty) pipeRoleOutput(child, roleLinePrinter(role.label, 'pretty', colorize), process.stdout);
  role.child = child;
  const startedAt = Date.now();
  child.on('exit', (code, signal) => {
    if (stopping) return;
    // The backoff grows with restarts in a row; a role that ran for a minute starts afresh.
    if (Date.now() - startedAt > 60_000) role.restarts = 0;
    role.restarts += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(role.restarts, 6));
    say(`${role.name} exited (${signal ?? code}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (!stopping) launch(role, env);
    }, delay).unref();
  });
}

const env = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  KAFKA_BROKERS: kafkaBrokers,
  GATEWAY_SIM_STATE_FILE: process.env.GATEWAY_SIM_STATE_FILE ?? path.join(root, '.data/gateway-sim.jsonl'),
  ...(broker ? LOCAL_BROKER_RELAY_ENV : {}),
};
for (const role of roles) launch(role, env);
printUrls(config, databaseUrl, kafkaBrokers, Boolean(broker));
if (devKey) {
  say(
    `API key        ${devKey.key}  (owner "dev", read and write; ${devKey.created ? 'made now' : 'kept'} in ${path.relative(root, devKeyFile)})`,
  );
  say(
    `try            curl -H "Authorization: Bearer ${devKey.key}" http://${config.HOST}:${config.PORT}/payments`,
  );
} else say('API keys       none made in production: npm run keys -- create --owner <owner>');

/** SIGTERM, and SIGKILL if it outlives its own grace period. Resolves after its last output line. */
function stopRole(role: Role): Promise<void> {
  return new Promise<void>((resolve) => {
    const child = role.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('close', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), (config.SHUTDOWN_GRACE_SECONDS + 5) * 1000).unref();
  });
}

async function shutdown(signal: NodeJS.Signals) {
  if (stopping) return;
  stopping = true;
  broker?.stopRestarting();
  say(`${signal}: stopping roles`);
  // The gateway's stand-in last: the outside world stays up while the worker finishes its calls.
  await Promise.all(roles.filter((r) => r.name !== 'gateway-sim').map(stopRole));
  await Promise.all(roles.filter((r) => r.name === 'gateway-sim').map(stopRole));
  if (broker) {
    say('stopping the local broker');
    await broker.stop();
  }
  if (postgres) {
    say('stopping Postgres');
    await postgres.stop();
  }
  say('stopped');
  process.exit(0);
}
// embedded-postgres registers its own signal hook that stops Postgres at once; the roles must stop
// first (they finish in-flight work against the database), so this process owns the signals. Only
// the listeners in view are removed: a loader (a TypeScript runner's CLI, say) may keep a hidden
// one of its own, and its parent may count on it.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  for (const listener of process.listeners(signal)) process.off(signal, listener);
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

function printUrls(c: Config, dbUrl: string, kafka: string, local: boolean) {
  const api = `http://${c.HOST}:${c.PORT}`;
  say(`API            ${api}`);
  say(`API reference  ${api}/docs  (OpenAPI: ${api}/openapi.json)`);
  say(
    `health         ${api}/health   metrics: ${api}/metrics (worker: http://${c.HOST}:${c.WORKER_METRICS_PORT}/metrics)`,
  );
  say(`gateway sim    http://${c.HOST}:${c.GATEWAY_SIM_PORT}/alpha/_control  (and /beta/_control)`);
  say(`database       ${dbUrl.replace(/:[^:@/]+@/, ':***@')}`);
  say(
    `kafka          ${kafka}  topics payments.events, wallets.events${local ? ` (dashboard http://127.0.0.1:${c.LOCAL_KAFKA_DASHBOARD_PORT})` : ''}`,
  );
  say(`relay metrics  http://${c.HOST}:${c.RELAY_METRICS_PORT}/metrics`);
  if (local && c.LOCAL_KAFKA_MAX_MEMORY_MB)
    say(
      `               the local broker keeps messages in memory; past ${c.LOCAL_KAFKA_MAX_MEMORY_MB} MB it starts again, empty`,
    );
  say('Ctrl-C stops everything');
}
