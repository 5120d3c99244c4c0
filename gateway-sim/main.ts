import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { loadConfig } from '../app/config.ts';
import { createLogger } from '../app/observability/logger.ts';
import { startTracing, stopTracing, tracesEndpoint } from '../app/observability/tracing.ts';
import { loadEnvFile } from '../app/process/env-file.ts';
import { exitOnConfigError, onShutdown, reportListening } from '../app/process/lifecycle.ts';
import { createGatewaySimulator } from './simulator.ts';

/** The `gateway-sim` role: the external gateway stand-in, on GATEWAY_SIM_PORT. */
exitOnConfigError(() => loadEnvFile());
const config = exitOnConfigError(() =>
  loadConfig(process.env, ['GATEWAY_ALPHA_SECRET', 'GATEWAY_BETA_SECRET', 'GATEWAY_SIM_CONTROL_TOKEN']),
);
const logger = createLogger(config.LOG_LEVEL, { role: 'gateway-sim', host: hostname() });
startTracing({ service: 'gateway-sim', endpoint: tracesEndpoint(config) });
const simulator = createGatewaySimulator({
  secrets: { alpha: config.GATEWAY_ALPHA_SECRET, beta: config.GATEWAY_BETA_SECRET },
  logger,
  stateFile: config.GATEWAY_SIM_STATE_FILE,
  controlToken: config.GATEWAY_SIM_CONTROL_TOKEN,
});
const server = simulator.app.listen(config.GATEWAY_SIM_PORT, config.HOST, () => {
  const { port } = server.address() as AddressInfo;
  logger.info({ url: `http://${config.HOST}:${port}` }, 'gateway simulator listening');
  reportListening('http', port);
});
server.on('error', (err) => {
  logger.fatal({ err }, 'gateway simulator could not listen');
  process.exit(1);
});
onShutdown(logger, async () => {
  simulator.stop();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await stopTracing();
});
