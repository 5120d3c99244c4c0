import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import type { Provider } from '../db/types.ts';
import { gatewayCircuitOpen, gatewayRequestsTotal } from '../payments/payment.metrics.ts';

/**
 * HTTP client of the payment gateway, one resilience pipeline per provider (cockatiel):
 * retry (exponential backoff with decorrelated jitter) -> circuit breaker -> timeout per attempt.
 * Breaker state lives in this process only: each worker process learns an outage by itself within
 * `breakerThreshold` failed calls. That keeps the design free of shared mutable state; the cost is
 * a few extra failing calls per process, bounded by the threshold.
 */
export interface GatewayClientOptions {
  baseUrl: string;
  attemptTimeoutMs: number;
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  breakerThreshold: number;
  breakerHalfOpenMs: number;
}

export class GatewayHttpError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`gateway answered ${status}: ${body.slice(0, 200)}`);
  }
  /** 5xx and 429 may pass; other 4xx will not, whatever we retry. */
  get transient() {
    return this.status >= 500 || this.status === 429;
  }
}

export interface GatewayCharge {
  id: string;
  status: 'pending' | 'succeeded' | 'failed';
  decline_code?: string | null;
}

const isTransient = (err: Error) =>
  err instanceof TaskCancelledError ||
  (err instanceof GatewayHttpError && err.transient) ||
  (err instanceof TypeError && /fetch failed/i.test(err.message));

export class GatewayClient {
  private readonly policies = new Map<Provider, { policy: IPolicy; isOpen: () => boolean }>();

  constructor(private readonly options: GatewayClientOptions) {
    for (const provider of ['alpha', 'beta'] as const)
      this.policies.set(provider, this.buildPolicy(provider));
  }

  isCircuitOpen(provider: Provider): boolean {
    return this.policy(provider).isOpen();
  }

  createCharge(
    provider: Provider,
    body: { amount: number; currency: string; reference: string; callback_url: string },
    idempotencyKey: string,
  ): Promise<GatewayCharge> {
    return this.call(provider, 'POST', '/charges', body, idempotencyKey);
  }

  getCharge(provider: Provider, chargeId: string): Promise<GatewayCharge> {
    return this.call(provider, 'GET', `/charges/${encodeURIComponent(chargeId)}`);
  }

  refund(provider: Provider, body: { charge_id: string; amount: number }, idempotencyKey: string) {
    return this.call<{ id: string; status: string }>(provider, 'POST', '/refunds', body, idempotencyKey);
  }

  private policy(provider: Provider) {
    const p = this.policies.get(provider);
    if (!p) throw new Error(`unknown provider ${provider}`);
    return p;
  }

  private async call<T>(
    provider: Provider,
    method: string,
    path: string,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<T> {
    const url = `${this.options.baseUrl}/${provider}${path}`;
    try {
      const result = await this.policy(provider).policy.execute(async ({ signal }) => {
        let res: Response;
        let text: string;
        try {
          res = await fetch(url, {
            method,
            signal,
            headers: {
              ...(body ? { 'content-type': 'application/json' } : {}),
              ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
            },
            body: body ? JSON.stringify(body) : undefined,
          });
          text = await res.text();
        } catch (err) {
          // Counted per attempt: the retry policy hides all but the last failure from the caller.
          gatewayRequestsTotal.inc({ provider, outcome: signal.aborted ? 'timeout' : 'error' });
          throw err;
        }
        if (!res.ok) {
          gatewayRequestsTotal.inc({ provider, outcome: 'error' });
          throw new GatewayHttpError(res.status, text);
        }
        gatewayRequestsTotal.inc({ provider, outcome: 'success' });
        return JSON.parse(text) as T;
      });
      return result;
    } catch (err) {
      if (err instanceof BrokenCircuitError) gatewayRequestsTotal.inc({ provider, outcome: 'circuit_open' });
      throw err;
    }
  }

  private buildPolicy(provider: Provider) {
    const o = this.options;
    const breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: o.breakerHalfOpenMs,
      breaker: new ConsecutiveBreaker(o.breakerThreshold),
    });
    breaker.onStateChange((state) =>
      gatewayCircuitOpen.set({ provider }, state === CircuitState.Open ? 1 : 0),
    );
    gatewayCircuitOpen.set({ provider }, 0);
    const retrying = retry(handleWhen(isTransient), {
      maxAttempts: o.maxAttempts - 1, // cockatiel counts retries after the first call
      backoff: new ExponentialBackoff({ initialDelay: o.backoffInitialMs, maxDelay: o.backoffMaxMs }),
    });
    const perAttempt = timeout(o.attemptTimeoutMs, TimeoutStrategy.Aggressive);
    return { policy: wrap(retrying, breaker, perAttempt), isOpen: () => breaker.state === CircuitState.Open };
  }
}
