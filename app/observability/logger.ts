import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Child loggers carry ids (requestId, traceId, walletId, jobId); messages never
 * carry SQL parameters or secrets (the redact list is a backstop, not the plan).
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.password'],
      censor: '[redacted]',
    },
  });
}
