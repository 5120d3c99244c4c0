import { sql } from 'kysely';
import type { Database } from '../../app/db/database.ts';

export interface Invariants {
  discrepancies: number | undefined;
  replayDiff: number;
  auditMs: number;
  replayMs: number;
  payments: number | undefined;
  events: number | undefined;
}

/** The audits and the replay over everything the run left, timed, with the amount of data. */
export async function checkInvariants(database: Database): Promise<Invariants> {
  // Timed: the workers run the same audit every minute over whole tables, so its cost grows with the data.
  const auditStarted = performance.now();
  const audit = (
    await sql<{ discrepancies: number }>`select discrepancies from audit__run(interval '1 hour')`.execute(
      database.db,
    )
  ).rows[0];
  const auditMs = performance.now() - auditStarted;
  const replayStarted = performance.now();
  const replayDiff = (await sql`select * from replay__verify()`.execute(database.db)).rows.length;
  const replayMs = performance.now() - replayStarted;
  const { rows: counts } = await sql<{ payments: number; events: number; txPerPayment: number }>`
    select (select count(*)::int from payments) as payments, (select count(*)::int from events) as events`.execute(
    database.db,
  );
  return {
    discrepancies: audit?.discrepancies,
    replayDiff,
    auditMs,
    replayMs,
    payments: counts[0]?.payments,
    events: counts[0]?.events,
  };
}
