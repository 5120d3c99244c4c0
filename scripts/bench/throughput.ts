import { sql } from 'kysely';
import { cpuDelta, cpuSeconds } from '../lib/bench-profile.ts';
import { waitFor } from '../lib/processes.ts';
import { say, sleep } from './common.ts';
import type { BenchContext } from './context.ts';
import type { BenchSystem } from './system.ts';

/** Drives payments at saturation, then waits for every one to settle: completed payments per second. */
export async function throughput(system: BenchSystem, loadSeconds: number, gatewayLatencyMs: number) {
  const { database } = system;
  await system.control('alpha', { latency_ms: gatewayLatencyMs });
  const t0 = new Date();
  const load = await system.paymentLoad({ seconds: loadSeconds, connections: 32 });
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

/**
 * Postgres' own count of committed transactions in the application's database. Idle backends
 * report their counts up to 10 s late (PGSTAT_IDLE_INTERVAL): wait that long first.
 */
async function committedTransactions(system: BenchSystem): Promise<number> {
  await sleep(11_000);
  const { rows } = await system.database.pool.query<{ n: string }>(
    'select xact_commit::text as n from pg_stat_database where datname = current_database()',
  );
  await system.database.pool.query('select pg_stat_clear_snapshot()');
  return Number(rows[0]?.n);
}

/**
 * One run of the phase: end-to-end throughput with the gateway answering at once (with the
 * transactions and CPU per payment, and the profile of the first run under BENCH_PROFILE=1), then
 * after 50 ms.
 */
export async function throughputRun(ctx: BenchContext, run: number): Promise<void> {
  const { system, profiler, results } = ctx;
  say(`run ${run}/${ctx.runs}: end-to-end throughput, gateway 0 ms`);
  const profile = ctx.profile && run === 1 ? await profiler.startProfile() : undefined;
  const commits0 = await committedTransactions(system);
  await profiler.readBackendNames();
  const cpu0 = cpuSeconds(profiler.processGroup);
  const t0 = await throughput(system, ctx.loadSeconds, 0);
  await profiler.readBackendNames(); // backends that connected meanwhile
  const cpu = cpuDelta(cpu0, cpuSeconds(profiler.processGroup));
  results.txPerPayment.push(((await committedTransactions(system)) - commits0) / Math.max(1, t0.completed));
  const shares = profiler.cpuShares(cpu, Math.max(1, t0.completed));
  results.cpuSystem.push(shares.system);
  results.cpuStandIns.push(shares.standIns);
  await profile?.(t0.completed);
  results.e2e0.push(t0.perSecond);
  say(`run ${run}/${ctx.runs}: end-to-end throughput, gateway 50 ms`);
  const t50 = await throughput(system, ctx.loadSeconds, 50);
  results.e2e50.push(t50.perSecond);
  results.errors += t0.non2xx + t0.errors + t0.notCompleted + t50.non2xx + t50.errors + t50.notCompleted;
  await system.control('alpha', { latency_ms: 0 });
}
