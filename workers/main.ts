import { hostname } from 'node:os';
import { loadConfig } from '../app/config.ts';
import { createLogger } from '../app/observability/logger.ts';
import { collectDefaultMetrics } from '../app/observability/metrics.ts';
import { startTracing, stopTracing, tracesEndpoint } from '../app/observability/tracing.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError, onShutdown, reportListening } from '../app/process/lifecycle.ts';
import { startWorkerRuntime } from './runtime.ts';

/** The `worker` role: runs the saga's jobs until SIGINT/SIGTERM, then finishes in-flight jobs. */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() => loadConfig(process.env, ['DATABASE_URL']));
const logger = createLogger(config.LOG_LEVEL, { role: 'worker', host: hostname() });
collectDefaultMetrics('worker');
startTracing({ service: 'worker', endpoint: tracesEndpoint(config) });
const worker = await startWorkerRuntime(config, logger);
reportListening('metrics', worker.metricsPort);
onShutdown(logger, () => worker.stop().finally(stopTracing), config.SHUTDOWN_GRACE_SECONDS * 1000);
void worker.died.then(() => process.exit(1));
