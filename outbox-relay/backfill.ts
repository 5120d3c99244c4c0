import type pg from 'pg';
import type { Logger } from '../app/observability/logger.ts';
import type { OutboxMessage, Publisher } from './kafka.ts';
import { relayEventsTotal } from './metrics.ts';

/**
 * A new slot streams only what commits after its creation. So, once per slot, before streaming,
 * the relay publishes every row still in the outbox table, in id order (per aggregate that is
 * version order). Rows committed after the slot was created come again from the stream:
 * duplicates, which consumers drop by event_id. Done is recorded in relay_progress; a crash
 * before that repeats the backfill (more duplicates, no gaps).
 */
export async function backfillIfNeeded(
  pool: pg.Pool,
  publisher: Publisher,
  options: { slot: string; instanceId: string; slotCreated: boolean; logger: Logger; chunk?: number },
): Promise<number> {
  if (options.slotCreated) {
    await pool.query(
      `insert into relay_progress (slot_name, leader_instance, backfill_completed_at) values ($1, $2, null)
       on conflict (slot_name) do update set backfill_completed_at = null, leader_instance = excluded.leader_instance`,
      [options.slot, options.instanceId],
    );
  }
  const { rows } = await pool.query<{ done: boolean }>(
    'select backfill_completed_at is not null as done from relay_progress where slot_name = $1',
    [options.slot],
  );
  if (rows[0]?.done) return 0;

  const chunk = options.chunk ?? 1000;
  let after = 0;
  let published = 0;
  for (;;) {
    const page = await pool.query<{
      id: number;
      topic: string;
      key: string;
      headers: Record<string, string>;
      payload: unknown;
    }>('select id, topic, key, headers, payload from outbox where id > $1 order by id limit $2', [
      after,
      chunk,
    ]);
    if (page.rows.length === 0) break;
    const messages: OutboxMessage[] = page.rows.map((r) => ({
      topic: r.topic,
      key: r.key,
      value: JSON.stringify(r.payload),
      headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])),
    }));
    await publisher.send(messages);
    for (const m of messages) relayEventsTotal.inc({ topic: m.topic });
    published += messages.length;
    after = page.rows.at(-1)?.id ?? after;
  }
  await pool.query(
    `insert into relay_progress (slot_name, leader_instance, backfill_completed_at) values ($1, $2, now())
     on conflict (slot_name) do update set backfill_completed_at = now()`,
    [options.slot, options.instanceId],
  );
  options.logger.info({ published, slot: options.slot }, 'backfilled the outbox for a new slot');
  return published;
}
