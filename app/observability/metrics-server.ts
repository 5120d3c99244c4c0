import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';
import { registry } from './metrics.ts';

export interface MetricsServer {
  /** The port it listens on (port 0: one the OS chose); rejects if it could not listen. */
  port: Promise<number>;
  close(): Promise<void>;
}

/**
 * Workers and the relay have no API, but their transitions (and so most business metrics) happen there: expose
 * this process's registry on its own port for Prometheus. Port 0: any free port (see `port`).
 * A port it cannot bind is logged and the role runs on without exporting metrics.
 */
export function startMetricsServer(port: number, host: string, logger: Logger): MetricsServer {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  });
  const bound = new Promise<number>((resolve, reject) => {
    server.once('listening', () => {
      const actual = (server.address() as AddressInfo).port;
      logger.info({ url: `http://${host}:${actual}/metrics` }, 'metrics listening');
      resolve(actual);
    });
    server.on('error', (err) => {
      logger.warn({ err, port }, 'metrics server failed; metrics are not exported');
      reject(err);
    });
  });
  // Awaiting the port is optional (only a parent that asked for port 0 needs it); the failure is logged above.
  bound.catch(() => {});
  server.listen(port, host);
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
