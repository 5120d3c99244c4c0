import http from 'node:http';
import type { Logger } from './logger.ts';
import { registry } from './metrics.ts';

/**
 * Workers and the relay have no API, but their transitions (and so most business metrics) happen there: expose
 * this process's registry on its own port for Prometheus. Port 0 disables it.
 */
export function startMetricsServer(port: number, host: string, logger: Logger): { close(): Promise<void> } {
  if (port === 0) return { close: async () => {} };
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  });
  server.on('error', (err) => logger.warn({ err, port }, 'metrics server failed; metrics are not exported'));
  server.listen(port, host, () => logger.info({ url: `http://${host}:${port}/metrics` }, 'worker metrics'));
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
