import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/** Cron: moves permanently failed jobs that escaped the wrapper into dead_letter_jobs. */
export const sweepDeadLetters = defineTask(z.object({}).loose(), async (_payload, helpers) => {
  const { rows } = await helpers.query<{ moved: number }>('select dead_letter__sweep() as moved');
  if ((rows[0]?.moved ?? 0) > 0)
    helpers.logger.warn(`swept ${rows[0]?.moved} permanently failed jobs into dead letters`);
});
