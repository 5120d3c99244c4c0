import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

/**
 * Where the time goes during a benchmark phase (BENCH_PROFILE=1): CPU seconds per process group
 * from /proc, and Postgres' statements by total execution time (pg_stat_statements, loaded only
 * for profiled runs because it costs a little on every statement).
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of every process whose command line matches, grouped by the label it maps to. */
export function cpuSeconds(label: (cmdline: string, pid: number) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const group = label(cmdline, Number(entry));
      if (!group) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      out.set(group, (out.get(group) ?? 0) + ticks / TICKS_PER_SECOND);
    } catch {
      // the process ended while we read it
    }
  }
  return out;
}

export function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

export async function resetStatements(pool: pg.Pool): Promise<void> {
  await pool.query('create extension if not exists pg_stat_statements');
  await pool.query('select pg_stat_statements_reset()');
}

export interface StatementCost {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
}

/**
 * Statements by total time. Top level: what clients send. Nested: statements run inside functions
 * (already counted in their caller's time; shown to see inside event__append and graphile's SQL).
 */
export async function topStatements(pool: pg.Pool, toplevel: boolean, limit = 25): Promise<StatementCost[]> {
  const { rows } = await pool.query<StatementCost>(
    `select regexp_replace(query, '\\s+', ' ', 'g') as query, calls::int as calls,
            round(total_exec_time::numeric, 1)::float8 as "totalMs", round(mean_exec_time::numeric, 3)::float8 as "meanMs"
       from pg_stat_statements
      where toplevel = $2 and dbid = (select oid from pg_database where datname = current_database())
      order by total_exec_time desc limit $1`,
    [limit, toplevel],
  );
  return rows;
}
