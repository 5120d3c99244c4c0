import { hostname } from 'node:os';
import { startApi } from './api.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { collectDefaultMetrics } from './observability/metrics.ts';
import { startTracing, stopTracing, tracesEndpoint } from './observability/tracing.ts';
import { loadEnvFile } from './process/env-file.ts';
import { exitOnConfigError, onShutdown, reportListening } from './process/lifecycle.ts';

/** The `api` role: serves HTTP until SIGINT/SIGTERM, then drains connections and exits. */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(loadConfig);
const logger = createLogger(config.LOG_LEVEL, { role: 'api', host: hostname() });
collectDefaultMetrics('api');
startTracing({ service: 'api', endpoint: tracesEndpoint(config) });
try {
  const api = await startApi(config, logger);
  logger.info({ url: api.url }, 'api listening');
  reportListening('http', api.port);
  onShutdown(logger, () => api.close().finally(stopTracing), config.SHUTDOWN_GRACE_SECONDS * 1000);
} catch (err) {
  logger.fatal({ err }, 'api could not start');
  process.exit(1);
}
