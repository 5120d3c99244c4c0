import { SAGA_TASKS } from '../../app/payments/saga-definition.ts';
import { say, sleep } from './common.ts';
import type { BenchContext } from './context.ts';
import { minus, quantile, scrapePickup, scrapeRelayLag } from './metrics.ts';

export interface LightResult {
  pickup: Map<number, number>;
  relay: Map<number, number>;
}

export const noLight = (): LightResult => ({
  pickup: new Map<number, number>(),
  relay: new Map<number, number>(),
});

// A light, steady load below capacity: pickup and relay lag as they are when the system keeps up
// (the whole-run histograms, read just before, include the backlog that saturation builds).
export async function lightPhase(ctx: BenchContext): Promise<LightResult> {
  const { system, profiler, results } = ctx;
  const { ports } = system;
  const light = noLight();
  const lightTasks = Object.values(SAGA_TASKS).slice(0, 3);
  say('light load: 10 payments/s for 20 s');
  const [p0, r0] = [await scrapePickup(ports), await scrapeRelayLag(ports)];
  const tasksBefore = await Promise.all(lightTasks.map((t) => scrapePickup(ports, `task="${t}"`)));
  const profile = ctx.profile ? await profiler.startProfile() : undefined;
  const r = await system.pacedPayments(10, 20);
  results.errors += r.non2xx + r.errors;
  await system.drain();
  await profile?.(r.sent);
  await sleep(1000);
  const [p1, r1] = [await scrapePickup(ports), await scrapeRelayLag(ports)];
  light.pickup = minus(p1, p0);
  light.relay = minus(r1, r0);
  // Per task: the first step's wait includes the API's transaction, the others a worker's.
  for (const [i, task] of lightTasks.entries()) {
    const p = minus(await scrapePickup(ports, `task="${task}"`), tasksBefore[i] as Map<number, number>);
    say(
      `  pickup ${task}: p50 ${(quantile(p, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(p, 0.99) * 1000).toFixed(1)} ms`,
    );
  }
  return light;
}
