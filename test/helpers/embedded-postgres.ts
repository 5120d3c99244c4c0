import {
  type EmbeddedPostgresOptions,
  type RunningPostgres,
  startEmbeddedPostgres,
} from '../../scripts/lib/embedded-postgres.ts';
import { freePort } from './processes.ts';

/** What Postgres logs when its port (TCP, or the Unix socket's lock file) is someone else's. */
const PORT_TAKEN = /could not create any TCP\/IP sockets|could not create lock file|Address already in use/;

/**
 * An embedded Postgres on a free port. Postgres cannot be told port 0 and report the port it bound,
 * so the port is chosen first (freePort) and may be taken by another process (another test file's
 * server, a role) before Postgres binds it: then it starts again on another port. Any other
 * failure is thrown at once.
 */
export async function startEmbeddedPostgresOnFreePort(
  options: Omit<EmbeddedPostgresOptions, 'port'>,
  choosePort: () => Promise<number> = freePort,
  attempts = 5,
): Promise<RunningPostgres & { port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await choosePort();
    let log = '';
    try {
      const server = await startEmbeddedPostgres({
        ...options,
        port,
        onLog: (line) => {
          log = (log + line).slice(-10_000);
          options.onLog?.(line);
        },
      });
      return { ...server, port };
    } catch (err) {
      if (attempt >= attempts || !PORT_TAKEN.test(log)) throw err;
    }
  }
}
