import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/**
 * Cron: the scheduled consistency check; the result is stored. Every minute the incremental one
 * (db/functions/audit__run_incremental.sql: what changed since, and what was found wrong before),
 * and with `{"full": true}` (hourly) the full one over whole tables (db/functions/audit__run.sql).
 */
export const runAudit = (stuckAfterSeconds: number, outboxRetentionHours: number) =>
  defineTask(z.object({ full: z.boolean().optional() }).loose(), async ({ full }, helpers) => {
    const audit = full ? 'audit__run' : 'audit__run_incremental';
    const { rows } = await helpers.query<{ discrepancies: number; details: Record<string, number> }>(
      `select discrepancies, details from ${audit}(make_interval(secs => $1), make_interval(hours => $2))`,
      [stuckAfterSeconds, outboxRetentionHours],
    );
    const run = rows[0];
    if (run && run.discrepancies > 0)
      helpers.logger.error(
        `${full ? 'full' : 'incremental'} audit found ${run.discrepancies} discrepancies: ${JSON.stringify(run.details)}`,
      );
  });

/** Cron: re-drives payments stuck past STUCK_PAYMENT_SECONDS (db/functions/payment__redrive_stuck.sql). */
export const redriveStuckPayments = (stuckSeconds: number, maxAttempts: number) =>
  defineTask(z.object({}).loose(), async (_payload, helpers) => {
    const { rows } = await helpers.query<{ payment_id: string; task: string }>(
      'select * from payment__redrive_stuck(make_interval(secs => $1), $2)',
      [stuckSeconds, maxAttempts],
    );
    if (rows.length > 0) helpers.logger.warn(`re-drove ${rows.length} stuck payments`);
  });
