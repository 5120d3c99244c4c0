import { z } from 'zod';
import { defineTask } from '../../task-catalogue.ts';

/**
 * Cron: moves permanently failed jobs that escaped the wrapper into dead_letter_jobs, closes the
 * open letters whose payment or refund has come to rest without them, then replays the saga jobs
 * whose every attempt was cut short by a crash (a few times at most: a poison job stays for an
 * operator). See docs/runbooks/dead-letters.md.
 */
export const sweepDeadLetters = (jobMaxAttempts: number) =>
  defineTask(z.object({}).loose(), async (_payload, helpers) => {
    const { rows } = await helpers.query<{ moved: number; resolved: number }>(
      'select dead_letter__sweep() as moved, dead_letter__resolve_settled() as resolved',
    );
    const replay = await helpers.query<{ replayed: number }>(
      'select dead_letter__replay_crash_spent($1) as replayed',
      [jobMaxAttempts],
    );
    const moved = rows[0]?.moved ?? 0;
    const resolved = rows[0]?.resolved ?? 0;
    const replayed = replay.rows[0]?.replayed ?? 0;
    if (moved > 0) helpers.logger.warn(`swept ${moved} permanently failed jobs into dead letters`);
    if (resolved > 0)
      helpers.logger.info(`resolved ${resolved} dead letters whose payment or refund came to rest`);
    if (replayed > 0)
      helpers.logger.warn(`replayed ${replayed} dead letters whose every attempt was cut short by a crash`);
  });
