import type pg from 'pg';
import type { Logger } from '../app/observability/logger.ts';
import { toOutboxRow } from './outbox-rows.ts';
import type { Sender } from './sender.ts';

/**
 * A new slot streams only what commits after its creation. So, once per slot, before streaming,
 * the relay publishes the outbox rows that may not be on Kafka yet, in id order (per aggregate that
 * is version order), through the same bounded sender as the stream. Rows committed after the slot
 * was created come again from the stream: duplicates, which consumers drop by event_id. Done is
 * recorded in relay_progress; a crash before that repeats the backfill (more duplicates, no gaps).
 *
 * Which rows: when relay_progress knows the last commit Kafka acknowledged (a slot dropped by an
 * operator, or invalidated by Postgres), the rows created from `overlapSeconds` before that commit
 * on: a row's created_at is its transaction's start, so a transaction that committed after the
 * acknowledged one but started up to `overlapSeconds` earlier is still included. Otherwise (a first
 * slot) every row in the outbox.
 */
export async function backfillIfNeeded(
  pool: pg.Pool,
  sender: Sender,
  options: {
    slot: string;
    instanceId: string;
    slotCreated: boolean;
    overlapSeconds: number;
    logger: Logger;
    chunk?: number;
    /** Checked between pages: a relay that is stopping leaves the backfill to the next leader. */
    isStopping?: () => boolean;
  },
): Promise<number> {
  if (options.slotCreated) {
    await pool.query(
      `insert into relay_progress (slot_name, leader_instance, backfill_completed_at) values ($1, $2, null)
       on conflict (slot_name) do update set backfill_completed_at = null, leader_instance = excluded.leader_instance`,
      [options.slot, options.instanceId],
    );
  }
  const { rows } = await pool.query<{ done: boolean; from_id: string | null; since: Date | null }>(
    `select p.backfill_completed_at is not null as done,
            p.last_commit_at - make_interval(secs => $2) as since,
            case when p.last_commit_at is null then 0
                 else (select min(o.id) from outbox o
                        where o.created_at >= p.last_commit_at - make_interval(secs => $2)) end::text as from_id
       from relay_progress p where p.slot_name = $1`,
    [options.slot, options.overlapSeconds],
  );
  if (rows[0]?.done) return 0;
  // No row at or after `since`: nothing can be missing.
  if (rows[0] && rows[0].from_id === null) return complete(pool, options, 0, rows[0].since);

  const chunk = options.chunk ?? 1000;
  const fromId = BigInt(rows[0]?.from_id ?? 0);
  let published = 0;
  // Every page from ONE snapshot, taken after the slot was created. Pages read at different
  // moments, while payments are written, skipped a row: a transaction holding a lower id that
  // committed after the page past that id was read, while its aggregate's next event (a higher id)
  // landed in a later page. Kafka then had v13 before v12 (chaos found it). In one snapshot each
  // aggregate's visible events are a prefix of its versions; everything committed after the
  // snapshot comes from the slot, in commit order.
  //
  // First, every transaction that was running when the slot was made must have ended: one whose
  // commit record came before the slot's consistent point is not streamed, and may still be
  // invisible for a moment after it (a synchronous standby's confirmation): our snapshot must see it.
  await waitForTransactionsRunningNow(pool, options.isStopping);
  // The snapshot's rows are kept by a WITH HOLD cursor: the transaction ends at once, so sending
  // them to a slow broker holds no transaction open (idle_in_transaction_session_timeout would end
  // it) and no snapshot back from vacuum.
  const client = await pool.connect();
  const cursor = 'relay_backfill';
  try {
    await client.query('begin isolation level repeatable read read only');
    await client.query(
      `declare ${cursor} no scroll cursor with hold for
         select id, event_id, topic, key, headers, payload from outbox where id >= $1 order by id`,
      [fromId.toString()],
    );
    await client.query('commit');
    for (;;) {
      if (options.isStopping?.()) throw new Error('the relay is stopping: backfill left for the next leader');
      const page = await client.query<Record<string, unknown>>(`fetch forward ${chunk} from ${cursor}`);
      if (page.rows.length === 0) break;
      published += (await sender.sendAll(page.rows.map(toOutboxRow))).sent;
    }
    await client.query(`close ${cursor}`);
    client.release();
  } catch (err) {
    // The session may hold the cursor, or be broken: it is not given back to the pool.
    client.release(true);
    throw err;
  }
  return complete(pool, options, published, rows[0]?.since ?? null);
}

/**
 * Waits until every transaction running now has ended (committed and visible, or aborted): the
 * oldest transaction still running is then newer than all of them.
 */
async function waitForTransactionsRunningNow(pool: pg.Pool, isStopping?: () => boolean): Promise<void> {
  const { rows } = await pool.query<{ xmax: string }>(
    'select pg_snapshot_xmax(pg_current_snapshot())::text as xmax',
  );
  const xmax = rows[0]?.xmax as string;
  for (;;) {
    const now = await pool.query<{ done: boolean }>(
      'select pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 as done',
      [xmax],
    );
    if (now.rows[0]?.done) return;
    if (isStopping?.()) throw new Error('the relay is stopping: backfill left for the next leader');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function complete(
  pool: pg.Pool,
  options: { slot: string; instanceId: string; logger: Logger },
  published: number,
  since: Date | null,
): Promise<number> {
  await pool.query(
    `insert into relay_progress (slot_name, leader_instance, backfill_completed_at) values ($1, $2, now())
     on conflict (slot_name) do update set backfill_completed_at = now()`,
    [options.slot, options.instanceId],
  );
  options.logger.info(
    { published, slot: options.slot, since: since?.toISOString() ?? 'the whole outbox' },
    'backfilled the outbox for a new slot',
  );
  return published;
}
