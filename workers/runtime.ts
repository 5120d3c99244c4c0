import { EventEmitter } from 'node:events';
import { run, type WorkerEvents } from 'graphile-worker';
import { type Config, databaseUrl } from '../app/config.ts';
import { createDatabase } from '../app/db/database.ts';
import { GatewayClient } from '../app/gateway/gateway-client.ts';
import type { Logger } from '../app/observability/logger.ts';
import { startMetricsServer } from '../app/observability/metrics-server.ts';
import { fraudRulesFrom, sagaOptionsFrom, type WorkerDeps } from './deps.ts';
import { graphileLogger } from './graphile-logger.ts';
import { startHeartbeat } from './heartbeat.ts';
import { createTaskList, crontab } from './tasks/index.ts';

/**
 * One worker process: graphile-worker running the saga tasks, a heartbeat carrying its
 * graphile worker ids, the dead-worker sweep and the metrics endpoint.
 */
export async function startWorkerRuntime(config: Config, logger: Logger) {
  // One pool for graphile-worker and our own queries; createDatabase guards it against idle-client
  // errors (a database restart must not crash the worker: it reconnects and carries on).
  const database = createDatabase(databaseUrl(config), {
    max: config.WORKER_CONCURRENCY + 4,
    applicationName: 'worker',
  });
  const gateway = new GatewayClient({
    baseUrl: config.GATEWAY_BASE_URL,
    attemptTimeoutMs: config.GATEWAY_ATTEMPT_TIMEOUT_MS,
    maxAttempts: config.GATEWAY_MAX_ATTEMPTS,
    backoffInitialMs: config.GATEWAY_BACKOFF_INITIAL_MS,
    backoffMaxMs: config.GATEWAY_BACKOFF_MAX_MS,
    breakerThreshold: config.GATEWAY_BREAKER_THRESHOLD,
    breakerHalfOpenMs: config.GATEWAY_BREAKER_HALF_OPEN_MS,
  });
  const deps: WorkerDeps = {
    db: database.db,
    config,
    gateway,
    saga: sagaOptionsFrom(config),
    fraudRules: fraudRulesFrom(config),
  };

  const graphileWorkerIds = new Set<string>();
  const events: WorkerEvents = new EventEmitter();
  events.on('pool:create', ({ workerPool }) => graphileWorkerIds.add(workerPool.id));

  const runner = await run({
    pgPool: database.pool,
    concurrency: config.WORKER_CONCURRENCY,
    pollInterval: config.WORKER_POLL_INTERVAL_MS,
    taskList: createTaskList(deps),
    crontab,
    noHandleSignals: true,
    events,
    logger: graphileLogger(logger),
    preset: {
      worker: {
        ...(config.WORKER_LOCAL_QUEUE_SIZE > 0
          ? { localQueue: { size: config.WORKER_LOCAL_QUEUE_SIZE } }
          : {}),
        completeJobBatchDelay: config.WORKER_COMPLETE_BATCH_DELAY_MS,
        failJobBatchDelay: config.WORKER_COMPLETE_BATCH_DELAY_MS,
      },
    },
  });
  const heartbeat = startHeartbeat(database.pool, 'worker', config.WORKER_HEARTBEAT_SECONDS, logger, () => [
    ...graphileWorkerIds,
  ]);

  const sweep = setInterval(() => {
    database.pool
      .query<{ ids: string[] }>('select worker__unlock_dead($1) as ids', [config.WORKER_DEAD_AFTER_SECONDS])
      .then(({ rows }) => {
        const ids = rows[0]?.ids ?? [];
        if (ids.length) logger.warn({ workerIds: ids }, 'unlocked jobs of dead workers');
      })
      .catch((err) => logger.warn({ err }, 'dead-worker sweep failed'));
  }, config.WORKER_SWEEP_SECONDS * 1000);
  sweep.unref();

  const metricsServer = startMetricsServer(config.WORKER_METRICS_PORT, config.HOST, logger);
  logger.info({ instanceId: heartbeat.instanceId }, 'worker running');

  return {
    async stop() {
      clearInterval(sweep);
      await runner.stop();
      await heartbeat.stop();
      await metricsServer.close();
      await database.close();
    },
  };
}
