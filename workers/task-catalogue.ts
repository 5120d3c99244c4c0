import type { Task, TaskList } from 'graphile-worker';
import type { z } from 'zod';

/**
 * A typed task: its payload is parsed with zod before anything else runs, since jobs may have been
 * enqueued by older code, by SQL, or by an operator from psql.
 */
export function defineTask<S extends z.ZodType>(
  schema: S,
  run: (payload: z.output<S>, helpers: Parameters<Task>[1]) => Promise<void>,
): Task {
  return async (raw, helpers) => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      // A payload that cannot parse will never parse: fail loudly; it ends in the dead letters.
      throw new Error(`invalid payload for ${helpers.job.task_identifier}: ${parsed.error.message}`);
    }
    await run(parsed.data, helpers);
  };
}

export type { TaskList };
