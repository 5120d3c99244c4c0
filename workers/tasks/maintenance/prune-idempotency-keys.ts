import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/** Cron: forgets idempotency keys past their retention (db/functions/idempotency__prune.sql). */
export const pruneIdempotencyKeys = defineTask(z.object({}).loose(), async (_payload, helpers) => {
  const { rows } = await helpers.query<{ pruned: number }>('select idempotency__prune() as pruned');
  const pruned = rows[0]?.pruned ?? 0;
  // An hourly run that found nothing is routine; one that pruned says so.
  helpers.logger[pruned > 0 ? 'info' : 'debug'](`pruned ${pruned} expired idempotency keys`);
});
