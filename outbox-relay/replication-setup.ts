import type pg from 'pg';

export interface SlotSetup {
  /** The slot was created now: the relay must backfill before streaming. */
  created: boolean;
  /** Set when an existing slot was dropped first because Postgres had invalidated it, and why. */
  invalidated?: string;
}

/**
 * Creates the publication (inserts only: retention's deletes are not streamed) and the logical
 * replication slot when they are missing. The slot is created in a statement of its own: Postgres
 * refuses to create one in a transaction that has written anything.
 *
 * A slot Postgres invalidated (wal_status 'lost' once it held back more than
 * max_slot_wal_keep_size; invalidation_reason on Postgres 17+, also for idle_replication_slot_timeout)
 * can never stream again: it is dropped and created anew, and the caller backfills from the outbox.
 * The relay runs this before every (re)start of its stream, and Postgres ends the walsender of a
 * slot it invalidates, so a relay that is streaming at that moment comes here too.
 */
export async function ensurePublicationAndSlot(
  pool: pg.Pool,
  publication: string,
  slot: string,
): Promise<SlotSetup> {
  const { rowCount: hasPublication } = await pool.query('select 1 from pg_publication where pubname = $1', [
    publication,
  ]);
  if (!hasPublication) {
    await pool
      .query(`create publication ${quoteIdent(publication)} for table outbox with (publish = 'insert')`)
      .catch((err) => {
        if ((err as { code?: string }).code !== '42710') throw err; // created concurrently
      });
  }
  // to_jsonb: invalidation_reason exists from Postgres 17 on; older servers have wal_status only.
  const { rows } = await pool.query<{ wal_status: string | null; invalidation_reason: string | null }>(
    `select wal_status, to_jsonb(s) ->> 'invalidation_reason' as invalidation_reason
       from pg_replication_slots s where slot_name = $1`,
    [slot],
  );
  const existing = rows[0];
  if (existing && existing.wal_status !== 'lost' && !existing.invalidation_reason) return { created: false };
  if (existing) await pool.query('select pg_drop_replication_slot($1)', [slot]);
  await pool.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return existing
    ? { created: true, invalidated: existing.invalidation_reason ?? `wal_status ${existing.wal_status}` }
    : { created: true };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
