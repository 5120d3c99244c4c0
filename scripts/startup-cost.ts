import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { migrate } from '../app/db/migrate.ts';
import type { ListenerName } from '../app/process/lifecycle.ts';
import { startEmbeddedPostgres } from './lib/embedded-postgres.ts';
import { startLocalBroker } from './lib/local-broker.ts';
import { rssBytes } from './lib/proc-memory.ts';
import { freePort, spawnRole } from './lib/processes.ts';

/**
 * `npm run startup-cost -- --runs 5`: how long each role takes from spawn to its first listening
 * port (reported over IPC, as npm start and the tests see it) and its resident memory a few seconds
 * later, medians of --runs starts, against a throwaway Postgres and local broker. `--node <path>`
 * and `--node-args "<args>"` measure another runtime (another Node, a loader) on the same sources.
 */
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    settle: { type: 'string', default: '5' },
    node: { type: 'string', default: process.execPath },
    'node-args': { type: 'string', default: '' },
  },
});
const runs = Number(args.runs);
const settleMs = Number(args.settle) * 1000;
const nodeArgs = (args['node-args'] ?? '').split(' ').filter(Boolean);
const root = path.resolve(import.meta.dirname, '..');

const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-startup-'));
chmodSync(dir, 0o755);
const postgres = await startEmbeddedPostgres({
  dataDir: path.join(dir, 'data'),
  port: await freePort(),
  database: 'payments',
  persistent: false,
  durable: false,
});
const broker = await startLocalBroker({ port: await freePort(), apiPort: await freePort() });
try {
  await migrate(postgres.url);
  // spawnRole adds PATH, HOME and the other inherited variables.
  const env = {
    ENV_FILE: 'none',
    LOG_LEVEL: 'warn',
    DATABASE_URL: postgres.url,
    KAFKA_BROKERS: broker.brokers,
    GATEWAY_BASE_URL: 'http://127.0.0.1:9',
    GATEWAY_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
  };
  const roles: { name: string; entry: string; listener: ListenerName; port: Record<string, string> }[] = [
    { name: 'gateway-sim', entry: 'gateway-sim/main.ts', listener: 'http', port: { GATEWAY_SIM_PORT: '0' } },
    { name: 'api', entry: 'app/main.ts', listener: 'http', port: { PORT: '0' } },
    { name: 'worker', entry: 'workers/main.ts', listener: 'metrics', port: { WORKER_METRICS_PORT: '0' } },
    { name: 'relay', entry: 'outbox-relay/main.ts', listener: 'metrics', port: { RELAY_METRICS_PORT: '0' } },
  ];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`${args.node} ${nodeArgs.join(' ')}: medians of ${runs} starts`);
  console.log('role          start ms   RSS MB');
  for (const role of roles) {
    const starts: number[] = [];
    const memory: number[] = [];
    for (let i = 0; i < runs; i++) {
      const began = performance.now();
      const proc = spawnRole(path.join(root, role.entry), { ...env, ...role.port }, nodeArgs, args.node);
      await proc.listening(role.listener);
      starts.push(performance.now() - began);
      await new Promise((r) => setTimeout(r, settleMs));
      memory.push((rssBytes(proc.pid) ?? Number.NaN) / 2 ** 20);
      await proc.kill('SIGTERM');
    }
    console.log(
      `${role.name.padEnd(12)}  ${median(starts).toFixed(0).padStart(8)}   ${median(memory).toFixed(0).padStart(6)}`,
    );
  }
} finally {
  await broker.stop();
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}
