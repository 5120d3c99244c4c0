import { waitFor } from '../lib/processes.ts';
import { say, sleep } from './common.ts';
import type { BenchContext } from './context.ts';
import { minus, relayedEvents, scrapeRelayLag } from './metrics.ts';

/** The relay phase's target rate (events/s) and duration. */
export const RELAY_RATE = 1000;
export const RELAY_SECONDS = 20;

export interface RelayResult {
  lag: Map<number, number>;
  rate: number;
}

export const noRelay = (): RelayResult => ({ lag: new Map<number, number>(), rate: Number.NaN });

// The relay alone at RELAY_RATE events/s: the saga cannot produce that many events on this machine,
// so existing events are re-published (outbox__republish, the operators' function: same messages,
// same sizes, new outbox rows; consumers drop the duplicates by event_id, state is untouched).
// 10 events per transaction, one transaction every 10 ms, evenly spaced.
export async function relayPhase(ctx: BenchContext): Promise<RelayResult> {
  const { database, ports } = ctx.system;
  const relay = noRelay();
  say(`relay: ${RELAY_RATE} events/s for ${RELAY_SECONDS} s (re-published events)`);
  const { rows } = await database.pool.query<{ lo: string; hi: string }>(
    'select min(position)::text as lo, max(position)::text as hi from events',
  );
  const [lo, hi] = [Number(rows[0]?.lo), Number(rows[0]?.hi)];
  const perTx = 10;
  const [lag0, events0] = [await scrapeRelayLag(ports), await relayedEvents(ports)];
  const started = performance.now();
  const txs = (RELAY_RATE / perTx) * RELAY_SECONDS;
  for (let i = 0; i < txs; i++) {
    const wait = started + (i * 1000 * perTx) / RELAY_RATE - performance.now();
    if (wait > 1) await sleep(wait);
    const from = lo + ((i * perTx) % Math.max(perTx, hi - lo + 1 - perTx));
    await database.pool.query('select outbox__republish($1, $2)', [from, from + perTx - 1]);
  }
  const generated = (performance.now() - started) / 1000;
  await waitFor(
    'the relay to catch up',
    async () => (await relayedEvents(ports)) - events0 >= txs * perTx,
    300_000,
    200,
  );
  relay.lag = minus(await scrapeRelayLag(ports), lag0);
  relay.rate = (txs * perTx) / generated;
  say(`  generated ${relay.rate.toFixed(0)} events/s`);
  return relay;
}
