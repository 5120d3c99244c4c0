import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/**
 * Cron: moves permanently failed jobs that escaped the wrapper into dead_letter_jobs, then closes
 * the open letters whose payment or refund has come to rest without them.
 */
export const sweepDeadLetters = defineTask(z.object({}).loose(), async (_payload, helpers) => {
  const { rows } = await helpers.query<{ moved: number; resolved: number }>(
    'select dead_letter__sweep() as moved, dead_letter__resolve_settled() as resolved',
  );
  if ((rows[0]?.moved ?? 0) > 0)
    helpers.logger.warn(`swept ${rows[0]?.moved} permanently failed jobs into dead letters`);
  if ((rows[0]?.resolved ?? 0) > 0)
    helpers.logger.info(`resolved ${rows[0]?.resolved} dead letters whose payment or refund came to rest`);
});
