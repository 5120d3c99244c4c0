import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, databaseUrl } from './config.ts';
import { createRolePool, type Database } from './db/database.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './observability/logger.ts';
import { PaymentWaiter } from './payments/payment-waiter.ts';
import { sagaOptionsFrom } from './payments/saga-jobs.ts';

export interface RunningApi {
  server: Server;
  url: string;
  database: Database;
  close(): Promise<void>;
}

/** Builds the API's dependencies, serves HTTP on config.PORT (0 = any free port), and closes it all. */
export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const database = createRolePool(config, 'api', { max: config.DB_POOL_MAX });
  const waiter = new PaymentWaiter(databaseUrl(config), logger);
  await waiter.start();
  const app = createApp({ config, db: database.db, logger, waiter, saga: sagaOptionsFrom(config) });
  const server = app.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${config.HOST}:${port}`,
    database,
    async close() {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Requests held by Prefer: wait end when the waiter closes below.
        setTimeout(() => server.closeAllConnections(), 5000).unref();
      });
      await waiter.close();
      await database.close();
    },
  };
}
