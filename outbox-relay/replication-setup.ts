import type pg from 'pg';

/**
 * Creates the publication (inserts only: retention's deletes are not streamed) and the logical
 * replication slot when they are missing. The slot is created in a statement of its own: Postgres
 * refuses to create one in a transaction that has written anything.
 */
export async function ensurePublicationAndSlot(
  pool: pg.Pool,
  publication: string,
  slot: string,
): Promise<{ created: boolean }> {
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
  const { rowCount: hasSlot } = await pool.query('select 1 from pg_replication_slots where slot_name = $1', [
    slot,
  ]);
  if (hasSlot) return { created: false };
  await pool.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return { created: true };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
