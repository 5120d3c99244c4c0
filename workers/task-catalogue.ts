import type { Task, TaskList } from 'graphile-worker';
import client from 'prom-client';
import type { z } from 'zod';
import { registry } from '../app/observability/metrics.ts';
import { contextFrom, inSpan, SpanKind } from '../app/observability/tracing.ts';

/** How long a job waited between becoming runnable (run_at) and starting: queue pickup latency. */
export const jobPickupLatency = new client.Histogram({
  name: 'job_pickup_latency_seconds',
  help: 'From a job becoming runnable (run_at) to a worker starting it',
  labelNames: ['task'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/**
 * A typed task: its payload is parsed with zod before anything else runs, since jobs may have been
 * enqueued by older code, by SQL, or by an operator from psql.
 */
export function defineTask<S extends z.ZodType>(
  schema: S,
  run: (payload: z.output<S>, helpers: Parameters<Task>[1]) => Promise<void>,
): Task {
  return async (raw, helpers) => {
    // Only first attempts: a retry's wait is graphile-worker's backoff, not pickup latency.
    if (helpers.job.attempts === 1) {
      const waited = (Date.now() - new Date(helpers.job.run_at).getTime()) / 1000;
      jobPickupLatency.observe({ task: helpers.job.task_identifier }, Math.max(0, waited));
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      // A payload that cannot parse will never parse: fail loudly; it ends in the dead letters.
      throw new Error(`invalid payload for ${helpers.job.task_identifier}: ${parsed.error.message}`);
    }
    // A job enqueued by a traced step carries its traceparent: the task runs in a child span.
    const traceparent = (raw as { traceparent?: unknown } | null)?.traceparent;
    await inSpan(
      helpers.job.task_identifier,
      {
        kind: SpanKind.CONSUMER,
        parent: contextFrom(traceparent),
        attributes: { 'job.id': String(helpers.job.id), 'job.attempt': helpers.job.attempts },
      },
      () => run(parsed.data, helpers),
    );
  };
}

export type { TaskList };
