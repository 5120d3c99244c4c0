import client from 'prom-client';

/**
 * The process's Prometheus registry. Metrics are created once per process, at import; the
 * business counters are incremented at the state transitions that define them, never derived
 * from logs.
 */
export const registry = new client.Registry();

let defaultsCollected = false;
export function collectDefaultMetrics(role: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  registry.setDefaultLabels({ role });
  client.collectDefaultMetrics({ register: registry });
}

export const httpRequestDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by method, route pattern and status code',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const walletDepositsTotal = new client.Counter({
  name: 'wallet_deposits_total',
  help: 'Deposits committed to wallets',
  labelNames: ['currency'] as const,
  registers: [registry],
});

export const walletDepositedAmountTotal = new client.Counter({
  name: 'wallet_deposited_amount_minor_total',
  help: 'Sum of deposited amounts in minor units',
  labelNames: ['currency'] as const,
  registers: [registry],
});

export const rateLimitedTotal = new client.Counter({
  name: 'http_rate_limited_total',
  help: 'Requests refused with 429 because their API key was over its rate limit',
  registers: [registry],
});

export const idempotentReplaysTotal = new client.Counter({
  name: 'idempotent_replays_total',
  help: 'Requests answered from a stored idempotent response',
  labelNames: ['scope'] as const,
  registers: [registry],
});
