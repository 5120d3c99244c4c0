import { Logger as GraphileLogger } from 'graphile-worker';
import type { Logger } from '../app/observability/logger.ts';

/** Routes graphile-worker's own log lines into our pino logger, with its scope as fields. */
export function graphileLogger(logger: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...(meta ?? {}) };
    // graphile-worker logs every job it completes at info (meta.success): one line per job is
    // routine, so it goes to debug; failures and retries keep their level.
    const routine = level === 'debug' || (level === 'info' && meta?.success === true);
    const method = level === 'error' ? 'error' : level === 'warning' ? 'warn' : routine ? 'debug' : 'info';
    logger[method](fields, message);
  });
}
