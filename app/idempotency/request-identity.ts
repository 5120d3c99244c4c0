import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { IdempotencyKeyRequired, ValidationFailed } from '../errors.ts';

/**
 * What identifies an idempotent request (docs/architecture.md, "Idempotent HTTP commands"): the key the client sends,
 * and the fingerprint of what it asked, so that a key reused for another request is refused.
 * Pure, apart from the request it reads, so it is mutation-tested without a database.
 */

export function idempotencyKeyOf(req: Pick<Request, 'get'>, required: boolean): string | undefined {
  const key = req.get('idempotency-key') ?? req.get('x-idempotent-key');
  if (key === undefined || key === '') {
    if (required) throw new IdempotencyKeyRequired();
    return undefined;
  }
  if (key.length > 255) {
    throw new ValidationFailed([{ path: 'headers.idempotency-key', message: 'must be 1..255 characters' }]);
  }
  return key;
}

/** The request's fingerprint: method, concrete path and the canonical JSON of the body. */
export function requestHash(req: Pick<Request, 'method' | 'path' | 'body'>): string {
  return createHash('sha256')
    .update(`${req.method}\n${req.path}\n${canonicalJson(req.body ?? null)}`)
    .digest('hex');
}

/** JSON with every object's keys sorted: the same body in another key order is the same request. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? // The keys of one object are distinct: no two compare equal.
        Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
