import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

/**
 * An open-loop load at a fixed arrival rate, requests evenly spaced in time.
 *
 * Why not autocannon here: its `overallRate` gives each connection a per-second quota that it
 * spends at the start of every second, so "100 requests/s" arrives as a burst of 100 every second
 * and the latency measured is the burst's queueing. autocannon still drives the saturation runs
 * (closed loop, as fast as the system answers), where its pacing does not matter.
 *
 * Latency is measured from each request's scheduled time, not its send time, so a stalled system
 * is charged for the requests it delayed (no coordinated omission).
 */
export interface PacedLoadResult {
  sent: number;
  non2xx: number;
  errors: number;
  latency: { p50: number; p90: number; p97_5: number; p99: number; max: number };
}

export async function pacedLoad(options: {
  origin: string;
  path: string;
  rate: number;
  seconds: number;
  request: () => { headers: Record<string, string>; body: string };
  connections?: number;
  /** Ends the load early: no request is sent after it fires (those in flight are awaited). */
  signal?: AbortSignal;
}): Promise<PacedLoadResult> {
  const pool = new Pool(options.origin, { connections: options.connections ?? 64, pipelining: 1 });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const result = { sent: 0, non2xx: 0, errors: 0 };
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();

  for (let i = 0; i < total && !options.signal?.aborted; i++) {
    const scheduled = start + i * intervalMs;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (options.signal?.aborted) break;
    const { headers, body } = options.request();
    result.sent++;
    const call = pool
      .request({ method: 'POST', path: options.path, headers, body })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) result.non2xx++;
      })
      .catch(() => {
        result.errors++;
      })
      .finally(() => {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000))); // µs
        inFlight.delete(call);
      });
    inFlight.add(call);
  }
  await Promise.all(inFlight);
  await pool.close();
  const ms = (q: number) => histogram.getValueAtPercentile(q) / 1000;
  return {
    ...result,
    latency: { p50: ms(50), p90: ms(90), p97_5: ms(97.5), p99: ms(99), max: histogram.maxValue / 1000 },
  };
}
