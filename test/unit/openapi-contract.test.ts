import { describe, expect, it } from 'vitest';
import { type Answer, contractViolations, templateOf } from '../helpers/openapi-contract.ts';

/** The checker every API answer of the suite goes through (helpers/http.ts): what it refuses. */
const wallet = {
  id: '0b9e7c1e-2a4b-4c6d-8e0f-1a2b3c4d5e6f',
  owner_id: 'owner-1',
  currency: 'USD',
  balance: 0,
  version: 1,
  created_at: '2026-11-23T10:00:00.000Z',
  updated_at: '2026-11-23T10:00:00.000Z',
};
const problem = (status: number, code: string) => ({
  type: `docs/errors.md#${code.toLowerCase()}`,
  title: 'Not found',
  status,
  code,
  detail: 'No such thing.',
});
const answer = (overrides: Partial<Answer>): Answer => ({
  method: 'GET',
  path: `/wallets/${wallet.id}`,
  status: 200,
  contentType: 'application/json; charset=utf-8',
  body: wallet,
  ...overrides,
});

describe('the OpenAPI contract checker', () => {
  it('passes documented answers: a body, a problem, an empty 204, the contract itself', () => {
    expect(contractViolations(answer({}))).toEqual([]);
    expect(contractViolations(answer({ path: `/wallets/${wallet.id}/?x=1` }))).toEqual([]);
    expect(
      contractViolations(
        answer({
          status: 404,
          contentType: 'application/problem+json; charset=utf-8',
          body: problem(404, 'WALLET_NOT_FOUND'),
        }),
      ),
    ).toEqual([]);
    expect(
      contractViolations(
        answer({
          method: 'DELETE',
          path: `/admin/api-keys/${wallet.id}`,
          status: 204,
          contentType: null,
          body: null,
        }),
      ),
    ).toEqual([]);
    expect(contractViolations(answer({ path: '/openapi.json', body: {} }))).toEqual([]);
  });

  it('refuses a status the operation does not document', () => {
    expect(contractViolations(answer({ status: 418 }))).toEqual([
      'status 418 is not documented for GET /wallets/{id}',
    ]);
  });

  it('refuses a body that does not match the schema, naming where', () => {
    const { balance: _balance, ...withoutBalance } = wallet;
    expect(contractViolations(answer({ body: withoutBalance })).join()).toMatch(/balance/);
    expect(contractViolations(answer({ body: { ...wallet, id: 'not-a-uuid' } })).join()).toMatch(
      /body\/id must match format "uuid"/,
    );
  });

  it('refuses an error that is not problem+json, and a problem whose status or type is not its own', () => {
    const notFound = problem(404, 'WALLET_NOT_FOUND');
    expect(contractViolations(answer({ status: 404, body: notFound })).join()).toMatch(
      /content-type application\/json is not one of application\/problem\+json/,
    );
    expect(
      contractViolations(
        answer({ status: 404, contentType: 'application/problem+json', body: { ...notFound, status: 400 } }),
      ),
    ).toEqual(["the problem's status is not the response's 404"]);
    const elsewhere = { ...notFound, type: 'https://wallet-payments.dev/problems/wallet-not-found' };
    expect(
      contractViolations(answer({ status: 404, contentType: 'application/problem+json', body: elsewhere })),
    ).toEqual(["the problem's type is not the URI of its entry in docs/errors.md (#wallet_not_found)"]);
  });

  it('refuses a body where the response is documented without one', () => {
    expect(
      contractViolations(
        answer({ method: 'DELETE', path: `/admin/api-keys/${wallet.id}`, status: 204, body: { ok: true } }),
      ),
    ).toHaveLength(1);
  });

  it('wants a 4xx problem for a route no operation documents', () => {
    const unknownRoute = { method: 'PUT', path: '/wallets', contentType: 'application/problem+json' };
    expect(
      contractViolations(answer({ ...unknownRoute, status: 404, body: problem(404, 'NOT_FOUND') })),
    ).toEqual([]);
    expect(contractViolations(answer({ ...unknownRoute, status: 200, body: {} }))).toEqual([
      'no operation documents PUT /wallets, yet it answered 200',
    ]);
  });

  it('finds the path template of a path', () => {
    expect(templateOf('/wallets')).toBe('/wallets');
    expect(templateOf(`/payments/${wallet.id}/events`)).toBe('/payments/{id}/events');
    expect(templateOf('/wallets/a/b/c')).toBeUndefined();
  });
});
