import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';
import { registry } from './metrics.ts';
import type { Readiness } from './readiness.ts';

export interface MetricsServer {
  /** The port it listens on (port 0: one the OS chose); rejects if it could not listen. */
  port: Promise<number>;
  close(): Promise<void>;
}

/**
 * Workers and the relay have no API, but their transitions (and so most business metrics) happen there: expose
 * this process's registry on its own port for Prometheus, with the role's health beside it:
 * `/health/live` answers while the event loop does, `/health/ready` with `ready()` (200 when ready,
 * else 503), in the shape of the API's. Port 0: any free port (see `port`).
 * A port it cannot bind is logged and the role runs on without exporting metrics.
 */
export function startMetricsServer(
  port: number,
  host: string,
  logger: Logger,
  ready: () => Promise<Readiness>,
): MetricsServer {
  const server = http.createServer(async (req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    // Read-only endpoints: another method changes nothing and is told so.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (req.url) {
      case '/metrics':
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
        return;
      case '/health/live':
        json(200, { status: 'alive' });
        return;
      case '/health/ready': {
        const readiness = await ready();
        json(readiness.status === 'ready' ? 200 : 503, readiness);
        return;
      }
      default:
        res.writeHead(404).end();
    }
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
