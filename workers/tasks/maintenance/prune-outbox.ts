import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/**
 * Cron: outbox retention (db/functions/outbox__prune.sql): deletes relayed rows older than
 * OUTBOX_RETENTION_HOURS. The relay reads the WAL, not the table, so this never harms the slot.
 */
export const pruneOutbox = (retentionHours: number) =>
  defineTask(z.object({}).loose(), async (_payload, helpers) => {
    const { rows } = await helpers.query<{ pruned: number }>(
      'select outbox__prune(make_interval(hours => $1)) as pruned',
      [retentionHours],
    );
    const pruned = rows[0]?.pruned ?? 0;
    // An hourly run that found nothing is routine; one that pruned says so.
    helpers.logger[pruned > 0 ? 'info' : 'debug'](`pruned ${pruned} relayed outbox rows`);
  });
