import type { Request } from 'express';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationFailed, WalletNotFound } from '../../app/errors.ts';
import {
  findUnfitJson,
  MAX_JSON_DEPTH,
  parseBody,
  parseId,
  parseQuery,
  parseWith,
} from '../../app/http/validation.ts';
import { amountSchema, currencySchema, MAX_AMOUNT, z } from '../../app/http/zod.ts';

const id = '0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
const failureOf = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
};

describe('request parsing', () => {
  const body = z.strictObject({
    amount: amountSchema,
    meta: z.strictObject({ note: z.string() }).optional(),
  });

  it('returns the parsed value of a valid part', () => {
    expect(parseWith(body, { amount: 5 }, 'body')).toEqual({ amount: 5 });
  });

  it('reports each problem as a 422 with its path under the part', () => {
    const err = failureOf(() => parseWith(body, { amount: 0, meta: { note: 1 } }, 'body'));
    expect(err).toBeInstanceOf(ValidationFailed);
    expect(err).toMatchObject({
      status: 422,
      code: 'VALIDATION_FAILED',
      errors: [
        { path: 'body.amount', message: 'must be positive' },
        { path: 'body.meta.note', message: expect.any(String) },
      ],
    });
  });

  it('names the unknown fields of a strict object', () => {
    const err = failureOf(() => parseWith(body, { amount: 5, extra: 1, other: 2 }, 'query'));
    expect(err).toMatchObject({ errors: [{ path: 'query', message: 'unknown field(s): extra, other' }] });
  });

  it('reports a problem with the whole part at the part itself, with no empty path segment', () => {
    const err = failureOf(() => parseWith(body, 'text', 'body'));
    expect(err).toMatchObject({ errors: [{ path: 'body' }] });
    const bare = failureOf(() => parseWith(body, { amount: 0 }, ''));
    expect(bare).toMatchObject({ errors: [{ path: 'amount' }] });
  });

  it('parses a request body under "body", a missing body as an empty object', () => {
    const optional = z.strictObject({ note: z.string().optional() });
    expect(parseBody(body, { body: { amount: 7 } } as Request)).toEqual({ amount: 7 });
    expect(parseBody(optional, {} as Request)).toEqual({});
    expect(failureOf(() => parseBody(body, {} as Request))).toMatchObject({
      errors: [{ path: 'body.amount' }],
    });
  });

  it('parses a query string under "query"', () => {
    const query = z.strictObject({ limit: z.coerce.number().int() });
    expect(parseQuery(query, { query: { limit: '3' } } as unknown as Request)).toEqual({ limit: 3 });
    expect(failureOf(() => parseQuery(query, { query: { limit: 'x' } } as unknown as Request))).toMatchObject(
      {
        errors: [{ path: 'query.limit' }],
      },
    );
  });
});

describe('ids in paths', () => {
  const notFound = (value: string) => new WalletNotFound(value);

  it('returns a uuid in lower case', () => {
    expect(parseId(id.toUpperCase(), notFound)).toBe(id);
  });

  it('answers a malformed id with the resource not found, naming what was asked', () => {
    for (const bad of [
      undefined,
      '',
      'abc',
      `${id}0`,
      ` ${id}`,
      id.replace(/-/g, ''),
      id.replace('0', 'g'),
    ]) {
      const err = failureOf(() => parseId(bad, notFound));
      expect(err, String(bad)).toBeInstanceOf(WalletNotFound);
      expect((err as Error).message).toBe(`Wallet ${bad ?? ''} does not exist.`);
    }
  });

  it('joins a path parameter given as segments with "/", so it is never a uuid', () => {
    const err = failureOf(() => parseId([id, 'x'], notFound));
    expect((err as Error).message).toBe(`Wallet ${id}/x does not exist.`);
  });
});

describe('unfit JSON', () => {
  const nest = (levels: number): unknown => (levels === 0 ? 1 : [nest(levels - 1)]);

  it('accepts ordinary values', () => {
    for (const value of [null, 1, 'text', true, [], {}, { a: [1, { b: 'c' }] }]) {
      expect(findUnfitJson(value)).toBeUndefined();
    }
  });

  it('finds a NUL in a string, an array item or a key, with its path', () => {
    expect(findUnfitJson('a\u0000')).toEqual({ path: '', message: 'must not contain a NUL character' });
    expect(findUnfitJson({ a: { b: ['x', 'y\u0000'] } })).toEqual({
      path: 'a.b.1',
      message: 'must not contain a NUL character',
    });
    expect(findUnfitJson({ a: { 'k\u0000': 1 } })).toEqual({
      path: 'a.k\u0000',
      message: 'must not contain a NUL character',
    });
  });

  it('reports the first NUL in document order', () => {
    expect(findUnfitJson({ a: '\u0000', b: '\u0000' })?.path).toBe('a');
    expect(findUnfitJson(['ok', '\u0000', '\u0000'])?.path).toBe('1');
  });

  it(`accepts nesting of ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}, at the root`, () => {
    expect(MAX_JSON_DEPTH).toBe(32);
    expect(findUnfitJson(nest(MAX_JSON_DEPTH))).toBeUndefined();
    expect(findUnfitJson(nest(MAX_JSON_DEPTH + 1))).toEqual({
      path: '',
      message: `must not nest deeper than ${MAX_JSON_DEPTH} levels`,
    });
  });

  it('counts objects as levels too, and an empty container at the limit is still too deep', () => {
    const objects = (levels: number, leaf: unknown): unknown =>
      levels === 0 ? leaf : { k: objects(levels - 1, leaf) };
    expect(findUnfitJson(objects(MAX_JSON_DEPTH, 'x'))).toBeUndefined();
    expect(findUnfitJson(objects(MAX_JSON_DEPTH, {}))?.path).toBe('');
  });

  it('survives 50,000 levels without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(50_000)}${']'.repeat(50_000)}`);
    expect(findUnfitJson(deep)?.message).toBe(`must not nest deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('accepts any shallow JSON without NUL (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        fc.pre(!JSON.stringify(value).includes('\\u0000'));
        expect(findUnfitJson(value)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});

describe('money and currency schemas', () => {
  it('takes integer minor units from 1 to 10^12', () => {
    expect(MAX_AMOUNT).toBe(1_000_000_000_000);
    expect(amountSchema.parse(1)).toBe(1);
    expect(amountSchema.parse(MAX_AMOUNT)).toBe(MAX_AMOUNT);
  });

  it('refuses 0, negatives, fractions, 10^12 + 1 and non-numbers, each with its message', () => {
    const messageOf = (value: unknown) => amountSchema.safeParse(value).error?.issues[0]?.message;
    expect(messageOf(0)).toBe('must be positive');
    expect(messageOf(-5)).toBe('must be positive');
    expect(messageOf(12.5)).toBe('must be an integer number of minor units');
    expect(messageOf(MAX_AMOUNT + 1)).toBe(`must be at most ${MAX_AMOUNT}`);
    expect(messageOf('5')).toBe('must be an integer number of minor units');
    expect(messageOf(Number.NaN)).toBe('must be an integer number of minor units');
  });

  it('takes three upper-case letters as a currency and nothing else', () => {
    expect(currencySchema.parse('USD')).toBe('USD');
    for (const bad of ['usd', 'US', 'USDT', 'U5D', ' USD', 'USD\n']) {
      expect(currencySchema.safeParse(bad).error?.issues[0]?.message, JSON.stringify(bad)).toBe(
        'must be an ISO 4217 code: three uppercase letters',
      );
    }
  });
});
