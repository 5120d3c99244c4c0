import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, databaseUrl } from './config.ts';
import { createRolePool, type Database } from './db/database.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './observability/logger.ts';
import { PaymentWaiter } from './payments/payment-waiter.ts';
import { sagaOptionsFrom } from './payments/saga-definition.ts';

export interface RunningApi {
  server: Server;
  /** The port it listens on: config.PORT, or the one the OS chose for PORT=0. */
  port: number;
  url: string;
  database: Database;
  close(): Promise<void>;
}

/** Builds the API's dependencies, serves HTTP on config.PORT (0 = any free port), and closes it all. */
export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const database = createRolePool(config, 'api', { max: config.DB_POOL_MAX });
  const waiter = new PaymentWaiter(databaseUrl(config), logger, config.DB_CONNECT_TIMEOUT_MS);
  await waiter.start();
  const lifecycle = { stopping: false };
  const app = createApp({
    config,
    db: database.db,
    pool: database.pool,
    logger,
    waiter,
    lifecycle,
    saga: sagaOptionsFrom(config),
  });
  const server = app.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://${config.HOST}:${port}`,
    database,
    async close() {
      lifecycle.stopping = true;
      if (config.SHUTDOWN_DRAIN_SECONDS > 0)
        await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DRAIN_SECONDS * 1000));
      // Requests held by Prefer: wait answer now with what they have (202 and the current state).
      await waiter.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Requests in flight finish; connections still open near the end of the grace period
        // are closed.
        const drainMs =
          Math.max(1, config.SHUTDOWN_GRACE_SECONDS - config.SHUTDOWN_ABORT_MARGIN_SECONDS) * 1000;
        setTimeout(() => server.closeAllConnections(), drainMs).unref();
      });
      await database.close();
    },
  };
}
