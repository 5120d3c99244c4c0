import { Logger, run } from 'graphile-worker';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { sampleValue, scrape } from './helpers/metrics.ts';
import { waitFor } from './helpers/processes.ts';

/**
 * The API's job-queue gauges, from graphile-worker's public `jobs` view: jobs are put in each
 * state with graphile-worker's own functions, and held by graphile-worker's own runner.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

describe('the job queue on /metrics', () => {
  it('counts waiting, scheduled, locked and permanently failed jobs per task, and the oldest waiting age', async () => {
    const db = app.database.db;
    const before = await scrape(`${app.baseUrl}/metrics`);
    expect(sampleValue(before, 'job_queue_oldest_waiting_seconds')).toBe(0);

    // Waiting: runnable since 90 s and since now; scheduled: an hour ahead.
    await sql`select graphile_worker.add_job('test__waiting', run_at => now() - interval '90 seconds')`.execute(
      db,
    );
    await sql`select graphile_worker.add_job('test__waiting')`.execute(db);
    await sql`select graphile_worker.add_job('test__waiting', run_at => now() + interval '1 hour')`.execute(
      db,
    );
    // Permanently failed: its attempts spent, by the admin function an operator would use.
    await sql`select graphile_worker.permanently_fail_jobs(array[(graphile_worker.add_job('test__failed')).id], 'test')`.execute(
      db,
    );
    // Locked: a graphile-worker runner holds the job while its task waits.
    await sql`select graphile_worker.add_job('test__held')`.execute(db);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const runner = await run({
      pgPool: app.database.pool,
      concurrency: 1,
      pollInterval: 100,
      noHandleSignals: true,
      crontab: '',
      logger: new Logger(() => () => {}),
      taskList: { test__held: () => held },
    });
    try {
      await waitFor('the runner to lock its job', async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from graphile_worker.jobs
           where task_identifier = 'test__held' and locked_at is not null`.execute(db);
        return rows[0]?.n === 1;
      });

      const text = await scrape(`${app.baseUrl}/metrics`);
      const value = (name: string, task: string) => sampleValue(text, name, { task });
      expect({
        waiting: value('job_queue_waiting', 'test__waiting'),
        scheduled: value('job_queue_scheduled', 'test__waiting'),
        locked: value('job_queue_locked', 'test__held'),
        failed: value('job_queue_permanently_failed', 'test__failed'),
        heldWaiting: value('job_queue_waiting', 'test__held'),
        failedWaiting: value('job_queue_waiting', 'test__failed'),
      }).toEqual({ waiting: 2, scheduled: 1, locked: 1, failed: 1, heldWaiting: 0, failedWaiting: 0 });
      const oldest = sampleValue(text, 'job_queue_oldest_waiting_seconds') as number;
      expect(oldest).toBeGreaterThanOrEqual(90);
      expect(oldest).toBeLessThan(120);
    } finally {
      release();
      await runner.stop();
    }

    // Done jobs leave the queue; a task seen before reads 0 rather than disappearing.
    const after = await scrape(`${app.baseUrl}/metrics`);
    expect(sampleValue(after, 'job_queue_locked', { task: 'test__held' })).toBe(0);
  });
});
