import type { Request } from 'express';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdempotencyKeyRequired, ValidationFailed } from '../../app/errors.ts';
import { canonicalJson, idempotencyKeyOf, requestHash } from '../../app/idempotency/request-identity.ts';

/** A request with these headers (names lower case, as express's req.get finds them). */
const withHeaders = (headers: Record<string, string>) =>
  ({ get: (name: string) => headers[name.toLowerCase()] }) as unknown as Pick<Request, 'get'>;

const request = (method: string, path: string, body: unknown) => ({ method, path, body });

describe('idempotency key header', () => {
  it('takes Idempotency-Key, and X-Idempotent-Key only when Idempotency-Key is absent', () => {
    expect(idempotencyKeyOf(withHeaders({ 'idempotency-key': 'k1' }), true)).toBe('k1');
    expect(idempotencyKeyOf(withHeaders({ 'x-idempotent-key': 'k2' }), true)).toBe('k2');
    expect(idempotencyKeyOf(withHeaders({ 'idempotency-key': 'k1', 'x-idempotent-key': 'k2' }), true)).toBe(
      'k1',
    );
  });

  it('refuses a missing or empty key with IDEMPOTENCY_KEY_REQUIRED where one is required', () => {
    expect(() => idempotencyKeyOf(withHeaders({}), true)).toThrow(IdempotencyKeyRequired);
    expect(() => idempotencyKeyOf(withHeaders({ 'idempotency-key': '' }), true)).toThrow(
      IdempotencyKeyRequired,
    );
  });

  it('returns undefined for a missing or empty key where the key is optional', () => {
    expect(idempotencyKeyOf(withHeaders({}), false)).toBeUndefined();
    expect(idempotencyKeyOf(withHeaders({ 'idempotency-key': '' }), false)).toBeUndefined();
  });

  it('accepts a key of 255 characters and refuses one of 256 as a validation failure of the header', () => {
    expect(idempotencyKeyOf(withHeaders({ 'idempotency-key': 'k'.repeat(255) }), true)).toBe('k'.repeat(255));
    const tooLong = () => idempotencyKeyOf(withHeaders({ 'idempotency-key': 'k'.repeat(256) }), false);
    expect(tooLong).toThrow(ValidationFailed);
    expect(tooLong).toThrow(
      expect.objectContaining({
        errors: [{ path: 'headers.idempotency-key', message: 'must be 1..255 characters' }],
      }),
    );
  });
});

describe('request hash', () => {
  it('is the hex SHA-256 of method, path and canonical body', () => {
    expect(requestHash(request('POST', '/wallets', { owner_id: 'a' }))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is the same for the same body with its keys, nested ones too, in another order', () => {
    const a = requestHash(request('POST', '/payments', { amount: 5, meta: { x: 1, y: [{ b: 1, a: 2 }] } }));
    const b = requestHash(request('POST', '/payments', { meta: { y: [{ a: 2, b: 1 }], x: 1 }, amount: 5 }));
    expect(b).toBe(a);
  });

  it('differs when the method, the path, a value, or the order of an array differs', () => {
    const base = requestHash(request('POST', '/wallets/1/deposits', { amount: 5, tags: [1, 2] }));
    expect(requestHash(request('PUT', '/wallets/1/deposits', { amount: 5, tags: [1, 2] }))).not.toBe(base);
    expect(requestHash(request('POST', '/wallets/2/deposits', { amount: 5, tags: [1, 2] }))).not.toBe(base);
    expect(requestHash(request('POST', '/wallets/1/deposits', { amount: 6, tags: [1, 2] }))).not.toBe(base);
    expect(requestHash(request('POST', '/wallets/1/deposits', { amount: 5, tags: [2, 1] }))).not.toBe(base);
  });

  it('treats a missing body as JSON null, not as an empty object', () => {
    expect(requestHash(request('POST', '/x', undefined))).toBe(requestHash(request('POST', '/x', null)));
    expect(requestHash(request('POST', '/x', undefined))).not.toBe(requestHash(request('POST', '/x', {})));
  });

  it('does not let the path run into the body (/wallets/1 with body 23 is not /wallets/12 with body 3)', () => {
    expect(requestHash(request('POST', '/wallets/1', 23))).not.toBe(
      requestHash(request('POST', '/wallets/12', 3)),
    );
  });
});

describe('canonical JSON', () => {
  it('sorts object keys by code unit at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, B: 0 })).toBe(
      '{"B":0,"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('is the same for any key order of the same value, and parses back to that value (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 100 },
    );
  });
});
