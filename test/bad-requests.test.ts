import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { walletFootprint } from './helpers/factories.ts';
import { idem, request } from './helpers/http.ts';

/**
 * Every bad request gets its exact 4xx problem and changes nothing: the wallet's balance, version
 * and the counts of ledger entries, events, outbox rows and idempotency keys are identical after.
 */
let app: TestApp;
let walletId: string;
beforeAll(async () => {
  app = await startTestApp();
  const created = await request(app.baseUrl, 'POST', '/wallets', {
    body: { currency: 'USD' },
  });
  walletId = created.body.id;
  const funded = await request(app.baseUrl, 'POST', `/wallets/${walletId}/deposits`, {
    body: { amount: 1000 },
    headers: idem('seed'),
  });
  expect(funded.status).toBe(201);
});
afterAll(async () => {
  await app.close();
});

interface Case {
  name: string;
  method: string;
  path: () => string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
  errorPath?: string;
}

const json = { 'content-type': 'application/json' };
const deposit = () => `/wallets/${walletId}/deposits`;
const key = idem('bad-request-key');
const cursorOf = (text: string) => Buffer.from(text).toString('base64url');

const cases: Case[] = [
  {
    name: 'float amount',
    method: 'POST',
    path: deposit,
    body: { amount: 10.5 },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'string amount',
    method: 'POST',
    path: deposit,
    body: { amount: '100' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'zero amount',
    method: 'POST',
    path: deposit,
    body: { amount: 0 },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'negative amount',
    method: 'POST',
    path: deposit,
    body: { amount: -5 },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'amount above 10^12',
    method: 'POST',
    path: deposit,
    body: { amount: 1_000_000_000_001 },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'amount in exponent notation beyond safe integers',
    method: 'POST',
    path: deposit,
    rawBody: '{"amount":1e300}',
    headers: { ...key, ...json },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'missing amount',
    method: 'POST',
    path: deposit,
    body: {},
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'null amount',
    method: 'POST',
    path: deposit,
    body: { amount: null },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'unknown field',
    method: 'POST',
    path: deposit,
    body: { amount: 100, currency: 'USD' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body',
  },
  {
    name: 'NUL character in a string',
    method: 'POST',
    path: deposit,
    body: { amount: 100, reference: 'a\u0000b' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.reference',
  },
  {
    name: 'array body',
    method: 'POST',
    path: deposit,
    body: [{ amount: 100 }],
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    path: deposit,
    rawBody: '{"amount": 100',
    headers: { ...key, ...json },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'missing content type',
    method: 'POST',
    path: deposit,
    rawBody: '{"amount":100}',
    headers: key,
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'wrong content type',
    method: 'POST',
    path: deposit,
    rawBody: 'amount=100',
    headers: { ...key, 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'body over 100 kB',
    method: 'POST',
    path: deposit,
    body: { amount: 100, reference: 'x'.repeat(110_000) },
    headers: key,
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'missing Idempotency-Key',
    method: 'POST',
    path: deposit,
    body: { amount: 100 },
    status: 400,
    code: 'IDEMPOTENCY_KEY_REQUIRED',
  },
  {
    name: 'empty Idempotency-Key',
    method: 'POST',
    path: deposit,
    body: { amount: 100 },
    headers: { 'Idempotency-Key': '' },
    status: 400,
    code: 'IDEMPOTENCY_KEY_REQUIRED',
  },
  {
    name: 'Idempotency-Key over 255 characters',
    method: 'POST',
    path: deposit,
    body: { amount: 100 },
    headers: idem('k'.repeat(256)),
    status: 422,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed wallet id in path',
    method: 'POST',
    path: () => '/wallets/not-a-uuid/deposits',
    body: { amount: 100 },
    headers: key,
    status: 404,
    code: 'WALLET_NOT_FOUND',
  },
  {
    name: 'SQL in the wallet id',
    method: 'GET',
    path: () => "/wallets/1'%20or%20'1'='1",
    status: 404,
    code: 'WALLET_NOT_FOUND',
  },
  {
    name: 'unknown wallet',
    method: 'POST',
    path: () => '/wallets/6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f/deposits',
    body: { amount: 100 },
    headers: key,
    status: 404,
    code: 'WALLET_NOT_FOUND',
  },
  {
    name: 'lower-case currency',
    method: 'POST',
    path: () => '/wallets',
    body: { currency: 'usd' },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.currency',
  },
  {
    name: 'four-letter currency',
    method: 'POST',
    path: () => '/wallets',
    body: { currency: 'USDT' },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.currency',
  },
  {
    name: 'owner_id over 128 characters',
    method: 'POST',
    path: () => '/wallets',
    body: { owner_id: 'o'.repeat(129), currency: 'USD' },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.owner_id',
  },
  {
    name: 'empty owner_id',
    method: 'POST',
    path: () => '/wallets',
    body: { owner_id: '', currency: 'USD' },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.owner_id',
  },
  {
    name: 'ledger limit of 0',
    method: 'GET',
    path: () => `/wallets/${walletId}/ledger?limit=0`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.limit',
  },
  {
    name: 'ledger limit over 100',
    method: 'GET',
    path: () => `/wallets/${walletId}/ledger?limit=101`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.limit',
  },
  {
    name: 'forged ledger cursor',
    method: 'GET',
    path: () => `/wallets/${walletId}/ledger?cursor=bm90LWEtY3Vyc29y`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.cursor',
  },
  {
    name: 'unknown query parameter',
    method: 'GET',
    path: () => `/wallets/${walletId}/ledger?offset=5`,
    status: 422,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'admin without a token',
    method: 'GET',
    path: () => '/admin/audit',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'admin with a wrong token',
    method: 'GET',
    path: () => '/admin/audit',
    headers: { authorization: 'Bearer wrong' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'payment: float amount',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 1.5, currency: 'USD' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'payment: amount as a string',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: '100', currency: 'USD' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'payment: currency of another wallet',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 100, currency: 'EUR' },
    headers: key,
    status: 422,
    code: 'CURRENCY_MISMATCH',
  },
  {
    name: 'payment: unknown wallet',
    method: 'POST',
    path: () => '/payments',
    body: {
      wallet_id: '6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f',
      service_id: 's',
      amount: 100,
      currency: 'USD',
    },
    headers: key,
    status: 404,
    code: 'WALLET_NOT_FOUND',
  },
  {
    name: 'payment: malformed wallet id in the body',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: 'nope', service_id: 's', amount: 100, currency: 'USD' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.wallet_id',
  },
  {
    name: 'payment: method other than balance',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 100, currency: 'USD', method: 'card' },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.method',
  },
  {
    name: 'payment: metadata with a non-string value',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 100, currency: 'USD', metadata: { n: 1 } },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.metadata.n',
  },
  {
    name: 'payment: description over 500 characters',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 100, currency: 'USD', description: 'd'.repeat(501) },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.description',
  },
  {
    name: 'payment: missing Idempotency-Key',
    method: 'POST',
    path: () => '/payments',
    body: { wallet_id: '@W', service_id: 's', amount: 100, currency: 'USD' },
    status: 400,
    code: 'IDEMPOTENCY_KEY_REQUIRED',
  },
  {
    name: 'payment: malformed id in path',
    method: 'GET',
    path: () => '/payments/12345',
    status: 404,
    code: 'PAYMENT_NOT_FOUND',
  },
  {
    name: 'payment: events of a malformed id',
    method: 'GET',
    path: () => '/payments/%00/events',
    status: 404,
    code: 'PAYMENT_NOT_FOUND',
  },
  {
    name: 'payments list: unknown status',
    method: 'GET',
    path: () => '/payments?status=LOST',
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.status',
  },
  {
    name: 'payments list: forged cursor',
    method: 'GET',
    path: () => '/payments?cursor=AAAA',
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.cursor',
  },
  {
    name: 'payments list: a cursor of hex and dashes that is not a UUID',
    method: 'GET',
    path: () => `/payments?cursor=${cursorOf(`t:2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`)}`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.cursor',
  },
  {
    name: 'payments list: a cursor with a UUID that has its dashes misplaced',
    method: 'GET',
    path: () => `/payments?cursor=${cursorOf(`t:2026-01-01T00:00:00.000Z|${'a'.repeat(32)}----`)}`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.cursor',
  },
  {
    name: 'payments list: a cursor with a date that does not exist',
    method: 'GET',
    path: () =>
      `/payments?cursor=${cursorOf('t:2026-13-45T25:61:61.000Z|6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f')}`,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'query.cursor',
  },
  {
    name: 'JSON arrays nested 40,000 deep (80 kB, under the size limit)',
    method: 'POST',
    path: deposit,
    rawBody: `${'['.repeat(40_000)}${']'.repeat(40_000)}`,
    headers: { ...key, ...json },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body',
  },
  {
    name: 'an object nested 10,000 deep inside a field',
    method: 'POST',
    path: deposit,
    rawBody: `{"amount":1,"reference":${'{"a":'.repeat(10_000)}"x"${'}'.repeat(10_000)}}`,
    headers: { ...key, ...json },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body',
  },
  {
    name: 'payment: nested 10,000 deep in metadata',
    method: 'POST',
    path: () => '/payments',
    rawBody: `{"wallet_id":"6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f","service_id":"s","amount":1,"currency":"USD","metadata":${'{"a":'.repeat(10_000)}"x"${'}'.repeat(10_000)}}`,
    headers: { ...key, ...json },
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body',
  },
  {
    name: 'a path with broken percent-encoding (found by fuzzing)',
    method: 'POST',
    path: () => '/payments/%/refunds',
    body: {},
    headers: key,
    status: 400,
    code: 'MALFORMED_URL',
  },
  {
    name: 'a wallet id with broken percent-encoding (found by fuzzing)',
    method: 'GET',
    path: () => '/wallets/%ZZ',
    status: 400,
    code: 'MALFORMED_URL',
  },
  {
    name: 'refund: unknown payment',
    method: 'POST',
    path: () => '/payments/6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f/refunds',
    body: {},
    headers: key,
    status: 404,
    code: 'PAYMENT_NOT_FOUND',
  },
  {
    name: 'refund: negative amount',
    method: 'POST',
    path: () => '/payments/6f1c2b1e-9a9b-4c1e-8d1e-0a0b0c0d0e0f/refunds',
    body: { amount: -1 },
    headers: key,
    status: 422,
    code: 'VALIDATION_FAILED',
    errorPath: 'body.amount',
  },
  {
    name: 'webhook: no signature',
    method: 'POST',
    path: () => '/webhooks/gateway/alpha',
    body: { event_id: 'e', type: 'charge.succeeded', charge: { id: 'c', status: 'succeeded' } },
    status: 401,
    code: 'INVALID_SIGNATURE',
  },
  {
    name: 'unknown route',
    method: 'DELETE',
    path: () => `/wallets/${walletId}`,
    status: 404,
    code: 'NOT_FOUND',
  },
];

describe('bad requests', () => {
  it('has at least 20 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases)('$name -> $status $code, and nothing changes', async (c) => {
    const before = await walletFootprint(app.database, walletId);
    // '@W' stands for the wallet made in beforeAll (unknown when the table is built).
    const body = c.body && JSON.parse(JSON.stringify(c.body).replaceAll('"@W"', JSON.stringify(walletId)));
    // A key of its own per case: a refused request's answer may be kept under its key, and the
    // same key on another case would then be a key reused (order dependence under shuffle).
    const headers = c.headers === key ? idem(`bad-request-${c.name}`) : c.headers;
    const res = await request(app.baseUrl, c.method, c.path(), { body, rawBody: c.rawBody, headers });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: c.status, code: c.code });
    expect(typeof res.body.title).toBe('string');
    expect(typeof res.body.detail).toBe('string');
    if (c.errorPath) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(c.errorPath);
    expect(await walletFootprint(app.database, walletId)).toEqual(before);
  });

  it('still accepts the well-formed request afterwards', async () => {
    const res = await request(app.baseUrl, 'POST', deposit(), { body: { amount: 1 }, headers: key });
    expect(res.status).toBe(201);
    expect(res.body.wallet.balance).toBe(1001);
  });
});
