import { Logger as GraphileLogger } from 'graphile-worker';
import type { Logger } from '../app/observability/logger.ts';

/** Routes graphile-worker's own log lines into our pino logger, with its scope as fields. */
export function graphileLogger(logger: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { ...scope, ...(meta ?? {}) };
    const method =
      level === 'error' ? 'error' : level === 'warning' ? 'warn' : level === 'debug' ? 'debug' : 'info';
    logger[method](fields, message);
  });
}
