import { ConfigError } from '../config.ts';
import type { Logger } from '../observability/logger.ts';

/** Loads configuration or exits with the message naming the bad variables (exit code 78, EX_CONFIG). */
export function exitOnConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/**
 * Runs `stop` once on SIGINT/SIGTERM, then exits 0; a second signal, or a stop that takes longer
 * than `graceMs`, exits at once.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, graceMs).unref();
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Which of a role's listeners a report is about: the API's and simulator's HTTP, a worker's or relay's metrics. */
export type ListenerName = 'http' | 'metrics';

/** What a role tells the process that spawned it, over an IPC channel (see reportListening). */
export type ListenReport =
  | { type: 'listening'; name: ListenerName; port: number }
  | { type: 'listen-failed'; name: ListenerName; error: string };

/**
 * Tells the parent which port a listener bound, when the parent spawned this role with an IPC
 * channel (the tests, the benchmark): told port 0, only the role knows the port, and a parent that
 * picks a "free" port first races every other process for it. No-op otherwise (`npm start`,
 * containers): those use fixed ports from the configuration.
 */
export function reportListening(name: ListenerName, port: number | Promise<number>): void {
  const send = (report: ListenReport) => {
    if (process.send && process.connected) process.send(report);
  };
  Promise.resolve(port).then(
    (bound) => send({ type: 'listening', name, port: bound }),
    (err: unknown) => send({ type: 'listen-failed', name, error: String((err as Error)?.message ?? err) }),
  );
}
