import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from '../../app/db/database.ts';
import { waitFor } from '../lib/processes.ts';
import { say } from './common.ts';
import type { BenchContext } from './context.ts';
import { RELAY_SLOT } from './system.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The history is grown to this many times what the run produced. */
export const AUDIT_FACTOR = 10;
/** The fresh activity before each incremental audit: payments through the API (10/s), settled. */
export const FRESH_PAYMENTS = 50;

/** The consistency checks over one amount of data. */
export interface AuditScale {
  events: number;
  payments: number;
  fullMs: number;
  fullDiscrepancies: number;
  incrementalMs: number;
  /** 'incremental', unless it fell back to the full audit (no run old enough to start from). */
  incrementalKind: string;
  incrementalDiscrepancies: number;
  /** Events after the position of the run the incremental audit started from. */
  eventsSince: number;
  replayMs: number;
  replayDiff: number;
}

export interface AuditResult {
  x1: AuditScale;
  x10: AuditScale;
  /** Rows scripts/bench/clone-history.sql added, per table. */
  added: Record<string, number>;
  cloneSeconds: number;
}

/** Every check clean and the incremental audit really incremental, at both sizes. */
export const auditOk = (a: AuditResult) =>
  [a.x1, a.x10].every(
    (s) =>
      s.fullDiscrepancies === 0 &&
      s.incrementalDiscrepancies === 0 &&
      s.replayDiff === 0 &&
      s.incrementalKind === 'incremental',
  );

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

interface AuditRunRow {
  discrepancies: number;
  kind: string;
  through_position: number | null;
}

async function measure(ctx: BenchContext, label: string): Promise<AuditScale> {
  const { system, results } = ctx;
  const { pool } = system.database;
  // Statistics and visibility maps brought up to date first: otherwise autovacuum starts on the
  // rows just written (the copies) while the audits are being timed.
  await pool.query(
    'vacuum (analyze) wallets, payments, events, ledger_entries, outbox, payment_steps, charge_attempts, refunds',
  );
  const { rows: counts } = await pool.query<{ payments: number; events: number }>(
    'select (select count(*)::int from payments) as payments, (select count(*)::int from events) as events',
  );
  const { events, payments } = counts[0] as { payments: number; events: number };

  say(`audit at ${label}: audit__run over ${events} events`);
  const [full, fullMs] = await timed(
    async () =>
      (await pool.query<AuditRunRow>('select discrepancies, kind, through_position from audit__run()'))
        .rows[0] as AuditRunRow,
  );
  // The incremental audit goes on from the latest run at least p_overlap (5 minutes) old, and runs
  // the full one when there is none: the full run just made is aged past that.
  await pool.query(`update audit_runs set ran_at = ran_at - interval '10 minutes'`);

  say(`audit at ${label}: ${FRESH_PAYMENTS} fresh payments, then audit__run_incremental`);
  await system.setWorkers(1);
  const fresh = await system.pacedPayments(10, FRESH_PAYMENTS / 10);
  results.errors += fresh.non2xx + fresh.errors;
  await system.drain();
  // The workers' own audits (cron: the incremental one every minute, the full one hourly) must not
  // run beside the timed ones.
  await system.setWorkers(0);
  const { rows: since } = await pool.query<{ n: number }>(
    'select count(*)::int as n from events where position > $1',
    [full.through_position ?? 0],
  );

  const [incremental, incrementalMs] = await timed(
    async () =>
      (
        await pool.query<AuditRunRow>(
          'select discrepancies, kind, through_position from audit__run_incremental()',
        )
      ).rows[0] as AuditRunRow,
  );
  const [replayDiff, replayMs] = await timed(
    async () => (await pool.query('select * from replay__verify()')).rows.length,
  );
  const scale: AuditScale = {
    events,
    payments,
    fullMs,
    fullDiscrepancies: full.discrepancies,
    incrementalMs,
    incrementalKind: incremental.kind,
    incrementalDiscrepancies: incremental.discrepancies,
    eventsSince: since[0]?.n ?? 0,
    replayMs,
    replayDiff,
  };
  say(
    `  full ${fullMs.toFixed(0)} ms (${full.discrepancies} discrepancies), ${incremental.kind} ${incrementalMs.toFixed(0)} ms over ${scale.eventsSince} events (${incremental.discrepancies} discrepancies), replay__verify ${replayMs.toFixed(0)} ms (${replayDiff} differences)`,
  );
  return scale;
}

/** Runs scripts/bench/clone-history.sql: `copies` more copies of the whole history. */
async function cloneHistory(database: Database, copies: number): Promise<Record<string, number>> {
  // One connection: the functions live in its pg_temp.
  const client = await database.pool.connect();
  try {
    await client.query(readFileSync(path.join(root, 'scripts/bench/clone-history.sql'), 'utf8'));
    const { rows } = await client.query<{ added: Record<string, number> }>(
      'select pg_temp.bench__clone_history($1) as added',
      [copies],
    );
    return rows[0]?.added ?? {};
  } finally {
    client.release(true); // closed, and its pg_temp functions with it
  }
}

/**
 * The cost of the consistency checks as the history grows: the full audit (audit__run, whole
 * tables), the incremental one (audit__run_incremental, the aggregates with events since an earlier
 * run) and replay__verify, over the data the run produced and over AUDIT_FACTOR times as much (the
 * history copied under fresh ids, scripts/bench/clone-history.sql). The full audit and the replay
 * should grow with the data; the incremental audit, which follows what happened since, should not.
 * Leaves the relay and the workers stopped, and the history grown.
 */
export async function auditPhase(ctx: BenchContext): Promise<AuditResult> {
  const { system } = ctx;
  const { pool } = system.database;
  say(`audit: the consistency checks at 1x and ${AUDIT_FACTOR}x the data`);
  // The relay would stream every copied outbox row to the broker, on the cores the audits are timed
  // on. It is stopped, and its slot dropped, so that Postgres does not keep the copies' WAL for it.
  await system.stopRole('relay');
  await waitFor(
    'the relay to leave its slot',
    async () =>
      (
        await pool.query<{ active: boolean }>(
          'select active from pg_replication_slots where slot_name = $1',
          [RELAY_SLOT],
        )
      ).rows[0]?.active !== true,
    30_000,
  );
  await pool.query(
    'select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1',
    [RELAY_SLOT],
  );
  // The workers' cron audits would run beside the timed ones; measure() starts them only for the
  // fresh payments.
  await system.setWorkers(0);

  const x1 = await measure(ctx, '1x');
  say(`audit: copying the history ${AUDIT_FACTOR - 1} times (scripts/bench/clone-history.sql)`);
  const [added, cloneMs] = await timed(() => cloneHistory(system.database, AUDIT_FACTOR - 1));
  say(
    `  added ${Object.entries(added)
      .map(([table, n]) => `${n} ${table}`)
      .join(', ')} in ${(cloneMs / 1000).toFixed(0)} s`,
  );
  const x10 = await measure(ctx, `${AUDIT_FACTOR}x`);
  return { x1, x10, added, cloneSeconds: cloneMs / 1000 };
}
