import { say } from './common.ts';
import type { BenchContext } from './context.ts';
import { throughput } from './throughput.ts';

/** The worker process counts the scaling phase measures. */
export const SCALING_WORKERS = [1, 2, 4];

/** Throughput (gateway 0 ms) with 1, 2 and 4 worker processes, BENCH_RUNS runs each. */
export async function scalingPhase(ctx: BenchContext): Promise<void> {
  const { system, results } = ctx;
  for (const workers of SCALING_WORKERS) {
    await system.setWorkers(workers);
    results.scaling[workers] = [];
    for (let run = 1; run <= ctx.runs; run++) {
      say(`scaling: ${workers} worker process(es), run ${run}/${ctx.runs}`);
      results.scaling[workers]?.push((await throughput(system, ctx.loadSeconds, 0)).perSecond);
    }
  }
}
