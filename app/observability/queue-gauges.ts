import { sql } from 'kysely';
import client from 'prom-client';
import type { Db } from '../db/database.ts';
import { gaugeDatabase } from './db-gauges.ts';
import { registry } from './metrics.ts';

/**
 * graphile-worker's queue, read when Prometheus scrapes the API (beside the other database gauges:
 * the queue is shared by every worker and must be seen while none runs). Read from the public view
 * `graphile_worker.jobs`, graphile-worker's stable interface; its `_private_*` tables may change in
 * a patch release. One grouped query per scrape, shared by the five gauges. graphile-worker warns
 * that reading the view often costs the workers: it is one pass over the queue, which holds only
 * jobs not yet done (a finished job is deleted), every scrape interval.
 *
 * Each job is in exactly one state: locked (a worker runs it), permanently failed (attempts spent:
 * the dead-letter sweep moves it within a minute), scheduled (run_at in the future: a delay or a
 * retry's backoff) or waiting (runnable now, not picked up yet).
 */
interface QueueRow {
  task: string;
  waiting: number;
  scheduled: number;
  locked: number;
  failed: number;
  /** Seconds since the oldest waiting job of the task became runnable; null when none waits. */
  oldest: number | null;
}

/**
 * The read may take at most this long: a queue swollen by an incident (millions of jobs after an
 * outage) must not cost the database a long scan every scrape, on every API replica, just when it
 * is busiest. Past it the gauges report no value (the oldest job's age: NaN), never a stale one.
 */
const QUEUE_READ_TIMEOUT_MS = 2_000;

let reading: Promise<QueueRow[]> | undefined;
function readQueue(db: Db): Promise<QueueRow[]> {
  reading ??= db
    .transaction()
    .execute(async (trx) => {
      await sql`select set_config('statement_timeout', ${String(QUEUE_READ_TIMEOUT_MS)}, true)`.execute(trx);
      return sql<QueueRow>`
    select task_identifier as task,
           count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now())::int as waiting,
           count(*) filter (where locked_at is null and attempts < max_attempts and run_at > now())::int as scheduled,
           count(*) filter (where locked_at is not null)::int as locked,
           count(*) filter (where locked_at is null and attempts >= max_attempts)::int as failed,
           extract(epoch from now() - min(run_at) filter (
             where locked_at is null and attempts < max_attempts and run_at <= now()))::float8 as oldest
      from graphile_worker.jobs
     group by task_identifier`.execute(trx);
    })
    .then((r) => r.rows)
    .finally(() => {
      reading = undefined;
    });
  return reading;
}

/** Tasks seen since this process started: one whose jobs are all gone reads 0, not "no data". */
const seenTasks = new Set<string>();

function taskGauge(name: string, help: string, value: (row: QueueRow) => number) {
  new client.Gauge({
    name,
    help,
    labelNames: ['task'],
    registers: [registry],
    async collect() {
      const db = gaugeDatabase();
      if (!db) return;
      // A failed read leaves the series out (no value), as the other database gauges do.
      const rows = await readQueue(db).catch(() => undefined);
      this.reset();
      if (!rows) return;
      for (const row of rows) seenTasks.add(row.task);
      const byTask = new Map(rows.map((row) => [row.task, row]));
      for (const task of seenTasks) {
        const row = byTask.get(task);
        this.set({ task }, row ? value(row) : 0);
      }
    },
  });
}

taskGauge(
  'job_queue_waiting',
  'Jobs runnable now (run_at reached, unlocked, attempts left) that no worker has picked up yet, by task',
  (row) => row.waiting,
);
taskGauge(
  'job_queue_scheduled',
  'Jobs whose run_at is in the future (a delayed step, a retry waiting out its backoff), by task',
  (row) => row.scheduled,
);
taskGauge(
  'job_queue_locked',
  'Jobs a worker holds (running, or held by a dead worker until the sweep), by task',
  (row) => row.locked,
);
taskGauge(
  'job_queue_permanently_failed',
  'Jobs whose attempts are spent (attempts >= max_attempts) still in the queue, by task: the dead-letter sweep moves them to dead_letter_jobs',
  (row) => row.failed,
);

new client.Gauge({
  name: 'job_queue_oldest_waiting_seconds',
  help: 'Age of the oldest job runnable now and not picked up (now - run_at); 0 when none waits',
  registers: [registry],
  async collect() {
    const db = gaugeDatabase();
    if (!db) return;
    const rows = await readQueue(db).catch(() => undefined);
    // Unknown, not the last value read: an alert on it must neither hold nor fire on old news.
    if (!rows) this.set(Number.NaN);
    else this.set(Math.max(0, ...rows.map((row) => row.oldest ?? 0)));
  },
});
