import { hostname } from 'node:os';
import { loadConfig } from '../app/config.ts';
import { createLogger } from '../app/observability/logger.ts';
import { collectDefaultMetrics } from '../app/observability/metrics.ts';
import { startTracing, stopTracing, tracesEndpoint } from '../app/observability/tracing.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError, onShutdown, reportListening } from '../app/process/lifecycle.ts';
import { startRelay } from './relay.ts';

/** The `relay` role: outbox -> Kafka, single active (others stand by), until SIGINT/SIGTERM. */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() => loadConfig(process.env, ['DATABASE_URL']));
const logger = createLogger(config.LOG_LEVEL, { role: 'relay', host: hostname() });
collectDefaultMetrics('relay');
startTracing({ service: 'relay', endpoint: tracesEndpoint(config) });
const relay = await startRelay(config, logger);
reportListening('metrics', relay.metricsPort);
onShutdown(logger, () => relay.stop().finally(stopTracing), config.SHUTDOWN_GRACE_SECONDS * 1000);
