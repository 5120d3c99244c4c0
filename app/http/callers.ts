import type { Request, RequestHandler } from 'express';
import type pg from 'pg';
import { BurstyRateLimiter, RateLimiterRes } from 'rate-limiter-flexible';
import { authenticateApiKey, type Caller } from '../auth/api-keys.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import { InsufficientScope, RateLimited, Unauthenticated } from '../errors.ts';
import type { IdempotencyClaim } from '../idempotency/idempotency.ts';
import { requestHash } from '../idempotency/request-identity.ts';
import { rateLimitedTotal } from '../observability/metrics.ts';
import { PostgresClockRateLimiter } from './postgres-clock-rate-limiter.ts';

/**
 * What every caller's request goes through, in this order: who is calling (an API key), whether the
 * key may write, and its rate limit. Each refuses before any route runs, so a refused request
 * changes nothing.
 */
export function authenticate(db: Db): RequestHandler {
  return async (req, _res, next) => {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    const match = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '');
    const caller = match?.[1] ? await authenticateApiKey(db, match[1]) : undefined;
    if (!caller) throw new Unauthenticated();
    req.caller = caller;
    next();
  };
}

/** Reads need `read`; anything else needs `write`. */
export function requireScope(): RequestHandler {
  return (req, _res, next) => {
    const needed = req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write';
    if (!callerOf(req).scopes.includes(needed)) throw new InsufficientScope(needed);
    next();
  };
}

/**
 * Per key, shared by every API process: rate-limiter-flexible over Postgres (table rate_limits,
 * migration 0014). A steady RATE_LIMIT_PER_SECOND, and on top of it RATE_LIMIT_BURST requests a
 * minute for bursts. Every answer carries the IETF RateLimit-* headers of the steady limit; over
 * both, 429 RATE_LIMITED with Retry-After. Windows are timed by Postgres's clock
 * (PostgresClockRateLimiter), like every other decision about shared state.
 */
export function rateLimit(
  pool: pg.Pool,
  config: Pick<Config, 'RATE_LIMIT_PER_SECOND' | 'RATE_LIMIT_BURST'>,
): RequestHandler {
  const common = { storeClient: pool, storeType: 'pool', tableName: 'rate_limits', tableCreated: true };
  // A key over a limit is also remembered by this process until the window ends, so a flood from
  // one key is refused without a statement each (it would queue on that key's row and hold the
  // pool that every other caller needs).
  const limit = (keyPrefix: string, points: number, duration: number) =>
    new PostgresClockRateLimiter({
      ...common,
      keyPrefix,
      points,
      duration,
      inMemoryBlockOnConsumed: points + 1,
    });
  const limiter = new BurstyRateLimiter(
    limit('steady', config.RATE_LIMIT_PER_SECOND, 1),
    limit('burst', config.RATE_LIMIT_BURST, 60),
  );
  return async (req, res, next) => {
    const keyId = callerOf(req).keyId;
    let result: RateLimiterRes;
    try {
      result = await limiter.consume(keyId);
    } catch (err) {
      // Anything but a refusal (the database is unreachable) is an error like any other: a 503.
      if (!(err instanceof RateLimiterRes)) throw err;
      const headers = rateLimitHeaders(config.RATE_LIMIT_PER_SECOND, err);
      rateLimitedTotal.inc();
      throw new RateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000)), headers);
    }
    res.set(rateLimitHeaders(config.RATE_LIMIT_PER_SECOND, result));
    next();
  };
}

function rateLimitHeaders(limit: number, result: RateLimiterRes): Record<string, string> {
  return {
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(result.remainingPoints),
    'RateLimit-Reset': String(Math.max(0, Math.ceil(result.msBeforeNext / 1000))),
  };
}

/** The idempotency claim of a caller's request: its owner, the endpoint, the key, the request's hash. */
export function callerClaim(req: Request, scope: string, key: string): IdempotencyClaim {
  return { owner: callerOf(req).ownerId, scope, key, hash: requestHash(req) };
}

/** The caller of a request that passed `authenticate`. */
export function callerOf(req: { caller?: Caller }): Caller {
  if (!req.caller) throw new Unauthenticated();
  return req.caller;
}

declare global {
  namespace Express {
    interface Request {
      caller?: Caller;
    }
  }
}
