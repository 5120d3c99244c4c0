import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { migrate } from '../app/db/migrate.ts';
import { startEmbeddedPostgres } from './lib/embedded-postgres.ts';
import { startLocalBroker } from './lib/local-broker.ts';
import { rssBytes } from './lib/proc-memory.ts';
import { freePort } from './lib/processes.ts';

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
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    ENV_FILE: 'none',
    LOG_LEVEL: 'warn',
    DATABASE_URL: postgres.url,
    KAFKA_BROKERS: broker.brokers,
    GATEWAY_BASE_URL: 'http://127.0.0.1:9',
    GATEWAY_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
  };
  const roles = [
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
      const child = spawn(args.node as string, [...nodeArgs, path.join(root, role.entry)], {
        cwd: root,
        env: { ...env, ...role.port },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      await new Promise<void>((resolve, reject) => {
        child.on('message', (m: { type?: string; name?: string }) => {
          if (m?.type === 'listening' && m.name === role.listener) resolve();
        });
        child.once('exit', (code) => reject(new Error(`${role.name} exited (${code}) before listening`)));
      });
      starts.push(performance.now() - began);
      await new Promise((r) => setTimeout(r, settleMs));
      memory.push((rssBytes(child.pid as number) ?? Number.NaN) / 2 ** 20);
      child.removeAllListeners('exit');
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
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
