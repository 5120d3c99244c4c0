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
import { z } from 'zod';
import type { Provider } from '../../app/db/types.ts';
import { inSpan, SpanKind, traceCarrier } from '../../app/observability/tracing.ts';
import {
  gatewayCircuitOpen,
  gatewayCircuitState,
  gatewayRequestsTotal,
} from '../../app/payments/payment.metrics.ts';

/**
 * HTTP client of the payment gateway. Its job is to say what each call PROVES, not just whether
 * it "worked": an answer, a refusal that proves nothing was processed (connection refused, a 4xx,
 * a 429, or a 5xx whose body says `processed: false`), or nothing provable (a timeout, another
 * 5xx, a reset connection, an unreadable answer): the request may have been processed.
 *
 * Two cockatiel pipelines per provider:
 * - `charging` (retry -> circuit breaker -> timeout per attempt) for a NEW charge attempt. An open
 *   breaker refuses the call before anything is sent; after GATEWAY_BREAKER_HALF_OPEN_MS the next
 *   new attempt is the half-open probe, and a success closes the breaker again.
 * - `asking` (retry -> timeout) for every question about money already asked for: the same-key
 *   retry of an unknown attempt, lookups, polls, cancels and refunds. The breaker never stops
 *   these: an open breaker must not keep the saga from finding out what happened.
 * Breaker state lives in this process only (gateway_circuit_open{provider} is this process's view).
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

export const chargeView = z
  .object({
    id: z.string().min(1).max(255),
    status: z.enum(['pending', 'succeeded', 'failed', 'canceled']),
    amount: z.number().int(),
    currency: z.string(),
    reference: z.string(),
    decline_code: z.string().nullable().optional(),
    refunded: z.number().int().nonnegative().optional(),
  })
  .loose();
export type GatewayCharge = z.infer<typeof chargeView>;

/**
 * One request's failure, and what it proves. `message` is safe to record and publish (payment
 * steps, events, refunds): a status, "timed out", "connection refused". What the gateway or the
 * network said (an error page, a socket error) is in `detail`, for the logs only.
 */
export class GatewayRequestError extends Error {
  override name = 'GatewayRequestError';
  /** The request may have been processed by the gateway. */
  readonly ambiguous: boolean;
  /** Worth retrying (timeouts, 5xx, 429, connection trouble); a 4xx is not. */
  readonly transient: boolean;
  readonly status?: number;
  readonly body?: unknown;
  readonly detail?: string;

  constructor(
    message: string,
    ambiguous: boolean,
    transient: boolean,
    status?: number,
    body?: unknown,
    detail?: string,
  ) {
    super(message);
    this.ambiguous = ambiguous;
    this.transient = transient;
    this.status = status;
    this.body = body;
    this.detail = detail;
  }
}

/**
 * The outcome of a call that may move money (create a charge, refund). `reason` is safe to record
 * and publish; `detail`, the raw answer or error, goes to the logs only (logGatewayTrouble).
 */
export type MoneyCallOutcome<T> =
  | { kind: 'answered'; value: T }
  | { kind: 'refused'; reason: string; status?: number; body?: unknown; detail?: string }
  | { kind: 'unknown'; reason: string; status?: number; detail?: string };

export type CancelOutcome = { kind: 'canceled' } | { kind: 'settled'; charge: GatewayCharge };

const STATE_NAMES = {
  closed: CircuitState.Closed,
  open: CircuitState.Open,
  half_open: CircuitState.HalfOpen,
} as const;

const isTransient = (err: unknown) =>
  err instanceof TaskCancelledError || (err instanceof GatewayRequestError && err.transient);

interface ProviderPolicies {
  charging: IPolicy;
  asking: IPolicy;
}

export class GatewayClient {
  private readonly policies = new Map<Provider, ProviderPolicies>();

  private readonly options: GatewayClientOptions;

  constructor(options: GatewayClientOptions) {
    this.options = options;
    for (const provider of ['alpha', 'beta'] as const)
      this.policies.set(provider, this.buildPolicies(provider));
  }

  /**
   * Asks for a charge under the attempt's idempotency key. `fresh`: the first request of a new
   * attempt (goes through the breaker); otherwise a same-key retry of an attempt whose outcome is
   * unknown (never stopped by the breaker: it is a question, and it cannot make a second charge).
   */
  createCharge(
    provider: Provider,
    body: { amount: number; currency: string; reference: string; callback_url: string },
    idempotencyKey: string,
    fresh: boolean,
    signal?: AbortSignal,
  ): Promise<MoneyCallOutcome<GatewayCharge>> {
    return this.moneyCall(
      provider,
      fresh ? 'charging' : 'asking',
      'POST',
      '/charges',
      body,
      idempotencyKey,
      chargeView,
      signal,
    );
  }

  /** Refunds (part of) a succeeded charge. The key makes a retried refund the same refund. */
  refund(
    provider: Provider,
    body: { charge_id: string; amount: number },
    idempotencyKey: string,
    signal?: AbortSignal,
  ) {
    return this.moneyCall(
      provider,
      'asking',
      'POST',
      '/refunds',
      body,
      idempotencyKey,
      z.object({ id: z.string().min(1), status: z.literal('succeeded') }).loose(),
      signal,
    );
  }

  /** The charge as the gateway has it now. Throws GatewayRequestError when it cannot be asked. */
  async getCharge(provider: Provider, chargeId: string, signal?: AbortSignal): Promise<GatewayCharge> {
    return this.question(provider, 'GET', `/charges/${encodeURIComponent(chargeId)}`, chargeView, signal);
  }

  /**
   * Every charge the provider made with this reference (the payment id). An empty list right
   * after an unanswered request is not a "no": that request may still be in flight.
   */
  async findCharges(provider: Provider, reference: string, signal?: AbortSignal): Promise<GatewayCharge[]> {
    const found = await this.question(
      provider,
      'GET',
      `/charges?reference=${encodeURIComponent(reference)}`,
      z.object({ items: z.array(chargeView) }).loose(),
      signal,
    );
    return found.items;
  }

  /** Cancels a pending charge; 409 means it settled first, and says how. */
  async cancelCharge(provider: Provider, chargeId: string, signal?: AbortSignal): Promise<CancelOutcome> {
    try {
      const charge = await this.question(
        provider,
        'POST',
        `/charges/${encodeURIComponent(chargeId)}/cancel`,
        z.object({ id: z.string(), status: z.literal('canceled') }).loose(),
        signal,
      );
      if (charge.id !== chargeId)
        throw new GatewayRequestError('cancel answered another charge', true, false);
      return { kind: 'canceled' };
    } catch (err) {
      if (err instanceof GatewayRequestError && err.status === 409) {
        // The 409 body says how it settled; ask for the whole charge to check it against the payment.
        return { kind: 'settled', charge: await this.getCharge(provider, chargeId, signal) };
      }
      throw err;
    }
  }

  private policy(provider: Provider): ProviderPolicies {
    const p = this.policies.get(provider);
    if (!p) throw new Error(`unknown provider ${provider}`);
    return p;
  }

  /** A call that may move money: what it proves, never an exception for the gateway's answers. */
  private async moneyCall<T>(
    provider: Provider,
    pipeline: 'charging' | 'asking',
    method: string,
    path: string,
    body: unknown,
    idempotencyKey: string,
    schema: z.ZodType<T>,
    // The worker's shutdown abort: a call cut short by it is unknown, like a timed-out one.
    abort?: AbortSignal,
  ): Promise<MoneyCallOutcome<T>> {
    // Every request starts ambiguous and is cleared only by a proof that it was not processed:
    // a timed-out request stays ambiguous even if cockatiel gave up on it before fetch returned.
    const requests: Array<{ ambiguous: boolean }> = [];
    try {
      const value = await this.policy(provider)[pipeline].execute(({ signal }) => {
        const request = { ambiguous: true };
        requests.push(request);
        return this.send(provider, method, path, body, idempotencyKey, schema, signal).catch((err) => {
          if (err instanceof GatewayRequestError && !err.ambiguous) request.ambiguous = false;
          throw err;
        });
      }, abort);
      return { kind: 'answered', value };
    } catch (err) {
      if (err instanceof BrokenCircuitError) gatewayRequestsTotal.inc({ provider, outcome: 'circuit_open' });
      const { message: reason, status, body, detail } = asRequestError(err);
      if (requests.some((r) => r.ambiguous)) return { kind: 'unknown', reason, status, detail };
      return { kind: 'refused', reason, status, body, detail };
    }
  }

  /** A call that moves nothing: its answer, or a GatewayRequestError. */
  private async question<T>(
    provider: Provider,
    method: string,
    path: string,
    schema: z.ZodType<T>,
    abort?: AbortSignal,
  ) {
    try {
      return (await this.policy(provider).asking.execute(
        ({ signal }) => this.send(provider, method, path, undefined, undefined, schema, signal),
        abort,
      )) as T;
    } catch (err) {
      throw asRequestError(err);
    }
  }

  /** One HTTP request. Throws GatewayRequestError saying whether it may have been processed. */
  private async send<T>(
    provider: Provider,
    method: string,
    path: string,
    body: unknown,
    idempotencyKey: string | undefined,
    schema: z.ZodType<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const url = `${this.options.baseUrl}/${provider}${path}`;
    let res: Response;
    let text: string;
    try {
      // Ids stay out of the span's name: the path's first segment names the operation.
      const operation = `${method} /${provider}/${path.split('/')[1] ?? ''}`;
      res = await inSpan(
        `gateway ${operation}`,
        { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': url } },
        async (span) => {
          const answer = await fetch(url, {
            method,
            signal,
            headers: {
              ...(body ? { 'content-type': 'application/json' } : {}),
              ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
              ...traceCarrier(),
            },
            body: body ? JSON.stringify(body) : undefined,
          });
          span.setAttribute('http.response.status_code', answer.status);
          return answer;
        },
      );
      text = await res.text();
    } catch (err) {
      const refused = connectionRefused(err);
      gatewayRequestsTotal.inc({
        provider,
        outcome: refused ? 'refused' : signal.aborted ? 'timeout' : 'error',
      });
      throw new GatewayRequestError(
        refused ? 'connection refused' : signal.aborted ? 'timed out' : 'connection failed',
        !refused,
        true,
        undefined,
        undefined,
        describe(err),
      );
    }
    const parsed = parseJson(text);
    if (!res.ok) {
      // Only these prove that THIS request was not processed: a 4xx (but 408, 409 and 425, which
      // say a request with this key is, or may be, in progress) or `processed: false`. Any other
      // 5xx may follow the work.
      const notProcessed =
        (res.status >= 400 && res.status < 500 && ![408, 409, 425].includes(res.status)) ||
        (parsed as { processed?: unknown } | undefined)?.processed === false;
      gatewayRequestsTotal.inc({ provider, outcome: notProcessed ? 'refused' : 'error' });
      throw new GatewayRequestError(
        `gateway answered ${res.status}`,
        !notProcessed,
        res.status >= 500 || res.status === 429,
        res.status,
        parsed,
        text.slice(0, 1000),
      );
    }
    const answer = schema.safeParse(parsed);
    if (!answer.success) {
      gatewayRequestsTotal.inc({ provider, outcome: 'error' });
      throw new GatewayRequestError(
        `unreadable answer (${res.status})`,
        true,
        true,
        undefined,
        undefined,
        text.slice(0, 1000),
      );
    }
    gatewayRequestsTotal.inc({ provider, outcome: 'success' });
    return answer.data;
  }

  private buildPolicies(provider: Provider): ProviderPolicies {
    const o = this.options;
    const breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: o.breakerHalfOpenMs,
      breaker: new ConsecutiveBreaker(o.breakerThreshold),
    });
    const showState = (state: CircuitState) => {
      gatewayCircuitOpen.set({ provider }, state === CircuitState.Open ? 1 : 0);
      const shown = state === CircuitState.Isolated ? CircuitState.Open : state; // isolated: held open
      for (const [name, value] of Object.entries(STATE_NAMES))
        gatewayCircuitState.set({ provider, state: name }, shown === value ? 1 : 0);
    };
    breaker.onStateChange(showState);
    showState(CircuitState.Closed);
    const retrying = () =>
      retry(handleWhen(isTransient), {
        maxAttempts: o.maxAttempts - 1, // cockatiel counts retries after the first call
        backoff: new ExponentialBackoff({ initialDelay: o.backoffInitialMs, maxDelay: o.backoffMaxMs }),
      });
    const perAttempt = timeout(o.attemptTimeoutMs, TimeoutStrategy.Aggressive);
    return {
      charging: wrap(retrying(), breaker, perAttempt),
      asking: wrap(retrying(), perAttempt),
    };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** ECONNREFUSED: the request was never sent, so it proves nothing was processed. */
function connectionRefused(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    if ((e as { code?: string }).code === 'ECONNREFUSED') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Any failure of a call as a GatewayRequestError, whose message is safe to record and publish. */
function asRequestError(err: unknown): GatewayRequestError {
  if (err instanceof GatewayRequestError) return err;
  if (err instanceof BrokenCircuitError) return new GatewayRequestError('circuit open', false, false);
  if (err instanceof TaskCancelledError) return new GatewayRequestError('timed out', true, true);
  return new GatewayRequestError('gateway call failed', true, false, undefined, undefined, describe(err));
}

/** An error's own words, with its causes (undici hides the socket error in `cause`): logs only. */
function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' <- ').slice(0, 1000);
}
