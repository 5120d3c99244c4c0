import { hostname } from 'node:os';
import { databaseUrl, loadConfig } from './config.ts';
import { createDatabase } from './db/database.ts';
import { createApp } from './http/app.ts';
import { createLogger } from './observability/logger.ts';
import { collectDefaultMetrics } from './observability/metrics.ts';
import { exitOnConfigError, onShutdown } from './process.ts';

/** The `api` role: serves HTTP until SIGINT/SIGTERM, then drains connections and exits. */
const config = exitOnConfigError(loadConfig);
const logger = createLogger(config.LOG_LEVEL, { role: 'api', host: hostname() });
collectDefaultMetrics('api');
const database = createDatabase(databaseUrl(config), { max: config.DB_POOL_MAX, applicationName: 'api' });
const app = createApp({ config, db: database.db, logger });

const server = app.listen(config.PORT, config.HOST, () => {
  logger.info({ url: `http://${config.HOST}:${config.PORT}` }, 'api listening');
});
server.on('error', (err) => {
  logger.fatal({ err }, 'api could not listen');
  process.exit(1);
});

onShutdown(logger, async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await database.close();
});
