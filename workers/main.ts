import { hostname } from 'node:os';
import { run } from 'graphile-worker';
import { databaseUrl, loadConfig } from '../app/config.ts';
import { createDatabase } from '../app/db/database.ts';
import { createLogger } from '../app/observability/logger.ts';
import { collectDefaultMetrics } from '../app/observability/metrics.ts';
import { exitOnConfigError, onShutdown } from '../app/process.ts';
import { graphileLogger } from './graphile-logger.ts';
import { startHeartbeat } from './heartbeat.ts';
import { startMetricsServer } from './metrics-server.ts';
import { crontab, taskList } from './tasks/index.ts';

/** The `worker` role: runs graphile-worker jobs until SIGINT/SIGTERM, then finishes in-flight jobs. */
const config = exitOnConfigError(loadConfig);
const logger = createLogger(config.LOG_LEVEL, { role: 'worker', host: hostname() });
// One pool for graphile-worker and our own queries; createDatabase guards it against idle-client
// errors (a database restart must not crash the worker: it reconnects and carries on).
const database = createDatabase(databaseUrl(config), {
  max: config.WORKER_CONCURRENCY + 4,
  applicationName: 'worker',
});

collectDefaultMetrics('worker');
const runner = await run({
  pgPool: database.pool,
  concurrency: config.WORKER_CONCURRENCY,
  taskList,
  crontab,
  noHandleSignals: true,
  logger: graphileLogger(logger),
});
const heartbeat = startHeartbeat(database.pool, 'worker', config.WORKER_HEARTBEAT_SECONDS, logger);
const metricsServer = startMetricsServer(config.WORKER_METRICS_PORT, config.HOST, logger);
logger.info({ instanceId: heartbeat.instanceId, tasks: Object.keys(taskList) }, 'worker running');

onShutdown(logger, async () => {
  await runner.stop();
  await heartbeat.stop();
  await metricsServer.close();
  await database.close();
});
