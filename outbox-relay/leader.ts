import pg from 'pg';
import type { Logger } from '../app/observability/logger.ts';

/**
 * Single-active relay: the leader holds a session-level advisory lock on its own connection.
 * A standby polls pg_try_advisory_lock every `pollMs`; when the leader's process dies its session
 * ends, the lock is released and a standby takes over within one poll.
 * If the lock's connection is lost, leadership cannot be proven any more: `onLost` is called and
 * the process must stop relaying at once.
 */
export async function acquireLeadership(options: {
  connectionString: string;
  lockName: string;
  pollMs: number;
  logger: Logger;
  onLost: (err: Error) => void;
  isStopping: () => boolean;
  /** After each poll that did not win the lock: whether Postgres answered it (another relay leads). */
  onStandby?: (answered: boolean) => void;
}): Promise<{ release(): Promise<void> } | undefined> {
  let announced = false;
  while (!options.isStopping()) {
    const client = new pg.Client({
      connectionString: options.connectionString,
      // The pid tells an operator (and chaos) which relay process holds the lock.
      application_name: `outbox-relay-leader ${process.pid}`,
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>(
        'select pg_try_advisory_lock(hashtext($1)) as locked',
        [options.lockName],
      );
      if (rows[0]?.locked) {
        client.on('error', (err) => options.onLost(err));
        client.on('end', () => {
          if (!options.isStopping()) options.onLost(new Error('leader lock connection ended'));
        });
        return {
          async release() {
            client.removeAllListeners('end');
            await client.query('select pg_advisory_unlock(hashtext($1))', [options.lockName]).catch(() => {});
            await client.end().catch(() => {});
          },
        };
      }
      if (!announced) options.logger.info('another relay is the leader; standing by');
      announced = true;
      options.onStandby?.(true);
    } catch (err) {
      options.logger.warn({ err }, 'leader election failed; retrying');
      options.onStandby?.(false);
    }
    await client.end().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
  return undefined;
}
