import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase } from '../../app/db/database.ts';
import { say } from './common.ts';
import type { BenchContext } from './context.ts';
import type { BenchSystem } from './system.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

export interface Pgbench {
  /** tps of pgbench (default -N) on the same Postgres instance, 8 clients, 20 s. */
  run(args?: string[]): number;
  /** Payments/s of the payment's necessary SQL alone (3 transactions each), the ceiling (issue 14). */
  ceiling(): number;
}

/** Finds pgbench and initialises its database (only when the phase runs). */
export async function preparePgbench(system: BenchSystem, enabled: boolean): Promise<Pgbench> {
  const pgbench = enabled ? pgbenchBinary() : 'pgbench';
  const pgbenchUrl = Object.assign(new URL(system.url), { pathname: '/pgbench' }).toString();
  if (enabled) {
    await system.database.pool.query('create database pgbench').catch(() => {});
    execFileSync(pgbench, ['-i', '-q', '-s', '8', pgbenchUrl], { stdio: 'ignore' });
    // The payment's necessary SQL on tables of its own (scripts/bench/ceiling-schema.sql).
    const ceilingDb = createDatabase(pgbenchUrl, { max: 1, applicationName: 'bench ceiling setup' });
    await ceilingDb.pool.query(readFileSync(path.join(root, 'scripts/bench/ceiling-schema.sql'), 'utf8'));
    await ceilingDb.close();
  }
  function runPgbench(args: string[] = ['-N']): number {
    const out = execFileSync(pgbench, [
      ...args,
      '-n',
      '-c',
      '8',
      '-j',
      '2',
      '-T',
      '20',
      pgbenchUrl,
    ]).toString();
    return Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
  }
  const runCeiling = () =>
    runPgbench(['-M', 'extended', '-f', path.join(root, 'scripts/bench/ceiling-payment.pgbench')]);
  return { run: runPgbench, ceiling: runCeiling };
}

/** One run of the phase: the baseline, then the ceiling. */
export function pgbenchRun(ctx: BenchContext, pgbench: Pgbench, run: number): void {
  say(`run ${run}/${ctx.runs}: pgbench -N`);
  ctx.results.pgbench.push(pgbench.run());
  say(`run ${run}/${ctx.runs}: the payment's necessary SQL (ceiling)`);
  ctx.results.ceiling.push(pgbench.ceiling());
}
