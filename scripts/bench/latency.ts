import type { PacedLoadResult } from '../lib/paced-load.ts';
import { say } from './common.ts';
import type { BenchContext, BenchResults, LatencySlot } from './context.ts';

/** Fixed arrival rates for POST /payments latency: one below the saga's capacity, then the targets'. */
export const LATENCY_RATES = [25, 100, 200, 300];

function recordLatency(results: BenchResults, slot: LatencySlot, r: PacedLoadResult) {
  results.errors += r.non2xx + r.errors;
  slot.p50.push(r.latency.p50);
  slot.p90.push(r.latency.p90);
  slot.p97_5.push(r.latency.p97_5);
  slot.p99.push(r.latency.p99);
}

/** One run of the phase: POST /payments at each fixed rate, then at 200/s with the workers stopped. */
export async function latencyRun(ctx: BenchContext, run: number): Promise<void> {
  const { system, results } = ctx;
  for (const rate of LATENCY_RATES) {
    say(`run ${run}/${ctx.runs}: POST /payments at ${rate} requests/s`);
    results.lat[rate] ??= { p50: [], p90: [], p97_5: [], p99: [] };
    recordLatency(results, results.lat[rate], await system.pacedPayments(rate, 8));
    // A rate above capacity leaves a backlog: let it finish before the next measurement.
    await system.drain();
  }
  // The API's own share: the same 200/s with no worker competing for the two cores (the jobs
  // wait in the queue and run once the workers are back).
  say(`run ${run}/${ctx.runs}: POST /payments at 200 requests/s, workers stopped`);
  await system.setWorkers(0);
  recordLatency(results, results.apiAlone, await system.pacedPayments(200, 8));
  await system.setWorkers(1);
  await system.drain();
}
