import { EventEmitter } from 'node:events';
import { run, type WorkerEvents } from 'graphile-worker';
import type pg from 'pg';
import type { Config } from '../app/config.ts';
import { createRolePool } from '../app/db/database.ts';
import type { Logger } from '../app/observability/logger.ts';
import { startMetricsServer } from '../app/observability/metrics-server.ts';
import { databaseCheck, readinessOf } from '../app/observability/readiness.ts';
import { startHeartbeat } from '../app/process/heartbeat.ts';
import { fraudRulesFrom, sagaOptionsFrom, type WorkerDeps } from './deps.ts';
import { GatewayClient } from './gateway/gateway-client.ts';
import { graphileLogger } from './graphile-logger.ts';
import { createTaskList, crontab } from './tasks/index.ts';

/**
 * One worker process: graphile-worker running the saga tasks, a heartbeat carrying its
 * graphile worker ids, the dead-worker sweep and the metrics endpoint.
 */
export async function startWorkerRuntime(config: Config, logger: Logger) {
  // One pool for graphile-worker and our own queries; createDatabase guards it against idle-client
  // errors (a database restart must not crash the worker: it reconnects and carries on).
  const database = createRolePool(config, 'worker', { max: config.WORKER_CONCURRENCY + 4 });
  const gateway = new GatewayClient({
    baseUrl: config.GATEWAY_BASE_URL,
    attemptTimeoutMs: config.GATEWAY_ATTEMPT_TIMEOUT_MS,
    maxAttempts: config.GATEWAY_MAX_ATTEMPTS,
    backoffInitialMs: config.GATEWAY_BACKOFF_INITIAL_MS,
    backoffMaxMs: config.GATEWAY_BACKOFF_MAX_MS,
    breakerThreshold: config.GATEWAY_BREAKER_THRESHOLD,
    breakerHalfOpenMs: config.GATEWAY_BREAKER_HALF_OPEN_MS,
  });
  const dying = new AbortController();
  const deps: WorkerDeps = {
    db: database.db,
    config,
    gateway,
    saga: sagaOptionsFrom(config),
    fraudRules: fraudRulesFrom(config),
    dying: dying.signal,
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
        // Tasks see helpers.abortSignal fire this long after a graceful shutdown starts: the
        // margin before the grace period ends lets an aborted job be failed (released) cleanly.
        gracefulShutdownAbortTimeout:
          Math.max(1, config.SHUTDOWN_GRACE_SECONDS - config.SHUTDOWN_ABORT_MARGIN_SECONDS) * 1000,
        failJobBatchDelay: config.WORKER_COMPLETE_BATCH_DELAY_MS,
      },
    },
  });
  // The runner stops on its own when graphile-worker cannot record a job's outcome (its batched
  // completion rethrows a lost connection and shuts the pool down). A process whose runner is gone
  // must not look alive: the heartbeat stops speaking for it at once, and `died` tells main to exit
  // so that the supervisor (npm start, compose's restart policy) starts a fresh one.
  let stopping = false;
  let runnerRunning = true;
  let fail: (reason: unknown) => void = () => {};
  const failure = new Promise<unknown>((resolve) => {
    fail = resolve;
  });
  events.on('pool:fatalError', ({ error }) => fail(error));
  events.on('worker:fatalError', ({ error }) => fail(error));
  runner.promise.then(
    () => fail(new Error('the job runner stopped')),
    (err: unknown) => fail(err),
  );
  const died = failure.then(async (err) => {
    runnerRunning = false;
    if (stopping) return new Promise<never>(() => {});
    logger.fatal({ err }, 'the job runner stopped; exiting so that a new worker takes over');
    // Stop the tasks still running here (their gateway calls end as unknown outcomes), and let
    // the pool finish. Only a pool that has finished may have its jobs unlocked: unlocking a job
    // that still runs here would let another worker run it beside this one. A pool that does not
    // finish in time is left to the dead-worker sweep; exiting ends its tasks for good.
    dying.abort(new Error('the job runner died'));
    const finished = await Promise.race([
      runner.promise.then(
        () => true,
        () => true,
      ),
      sleep(10_000).then(() => false),
    ]);
    if (finished) await releaseJobsOf([...graphileWorkerIds], database.pool, logger);
  });
  const heartbeat = startHeartbeat(
    database.pool,
    'worker',
    config.WORKER_HEARTBEAT_SECONDS,
    logger,
    () => [...graphileWorkerIds],
    () => runnerRunning,
  );

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

  // Ready: the runner takes jobs and the database answers, and no shutdown began.
  const ready = async () =>
    stopping
      ? readinessOf(true, {})
      : readinessOf(false, {
          runner: runnerRunning
            ? { status: 'pass', detail: 'running' }
            : { status: 'fail', detail: 'the job runner stopped' },
          database: await databaseCheck(
            () => database.pool.query('select 1'),
            (err) => logger.warn({ err }, 'health: database check failed'),
          ),
        });
  const metricsServer = startMetricsServer(config.WORKER_METRICS_PORT, config.HOST, logger, ready);
  logger.info({ instanceId: heartbeat.instanceId }, 'worker running');

  return {
    /** Settles when the runner stopped without stop(): the process should exit. */
    died,
    metricsPort: metricsServer.port,
    async stop() {
      stopping = true;
      clearInterval(sweep);
      await runner.stop();
      await heartbeat.stop();
      await metricsServer.close();
      await database.close();
    },
  };
}

/**
 * Unlocks the jobs a dead pool of this process still holds, so they run again at once rather than
 * after WORKER_DEAD_AFTER_SECONDS. The database may itself be the reason the pool died: try for a
 * few seconds, then leave the jobs to the other workers' dead-worker sweep.
 */
async function releaseJobsOf(workerIds: string[], pool: pg.Pool, logger: Logger, withinMs = 5_000) {
  if (workerIds.length === 0) return;
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      await pool.query('select graphile_worker.force_unlock_workers($1::text[])', [workerIds]);
      logger.info({ workerIds }, 'released the jobs of the stopped runner');
      return;
    } catch {
      await sleep(250);
    }
  }
  logger.warn({ workerIds }, "could not release the stopped runner's jobs; the dead-worker sweep will");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
