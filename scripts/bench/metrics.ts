import type { BenchPorts } from './system.ts';

/** The roles' Prometheus histograms and counters, as the bench reads them. */

/** A histogram's buckets summed over its series (or only the series whose labels contain `only`). */
export async function scrapeHistogram(port: number, name: string, only?: string) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\d+(?:\\.\\d+)?)`, 'gm'))) {
    if (only && !(m[1] as string).includes(only)) continue;
    const le = /le="([^"]+)"/.exec(m[1] as string)?.[1] as string;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  return buckets;
}
export function quantile(buckets: Map<number, number>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return Number.NaN;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= q * total) {
      if (!Number.isFinite(bound)) return prevBound;
      return prevBound + ((bound - prevBound) * (q * total - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
export const merge = (maps: Map<number, number>[]) => {
  const out = new Map<number, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
};
export const minus = (after: Map<number, number>, before: Map<number, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));

/** Job pickup latency over every running worker (ports.workerMetrics as it is now). */
export const scrapePickup = async (ports: BenchPorts, only?: string) =>
  merge(
    await Promise.all(ports.workerMetrics.map((p) => scrapeHistogram(p, 'job_pickup_latency_seconds', only))),
  );
export const scrapeRelayLag = (ports: BenchPorts) =>
  scrapeHistogram(ports.relayMetrics, 'outbox_relay_commit_to_ack_seconds');

/** Events the relay has acknowledged since it started, all topics. */
export async function relayedEvents(ports: BenchPorts): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ports.relayMetrics}/metrics`)).text();
  return [...text.matchAll(/^outbox_relay_events_total\{[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}
