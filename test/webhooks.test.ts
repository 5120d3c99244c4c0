import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPayload } from '../app/gateway/signature.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { request } from './helpers/http.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const body = JSON.stringify({
  event_id: 'evt_forged',
  type: 'charge.succeeded',
  charge: { id: 'ch_unknown', reference: 'x', amount: 100, currency: 'USD', status: 'succeeded' },
});
const post = (signature: string | undefined, raw = body, provider = 'alpha') =>
  request(app.baseUrl, 'POST', `/webhooks/gateway/${provider}`, {
    key: null,
    headers: { 'content-type': 'application/json', ...(signature ? { 'gateway-signature': signature } : {}) },
    rawBody: raw,
  });
const recorded = async () =>
  (await app.database.db.selectFrom('gateway_webhook_events').select('event_id').execute()).length;

describe('gateway webhooks', () => {
  it.each([
    ['no signature', undefined],
    ['a signature with the wrong secret', signPayload('not-the-secret', body)],
    [
      'a signature older than 300 s',
      signPayload(
        app?.config.GATEWAY_ALPHA_SECRET ?? 'alpha-dev-webhook-secret',
        body,
        Math.floor(Date.now() / 1000) - 301,
      ),
    ],
    [
      'a signature from the future',
      signPayload('alpha-dev-webhook-secret', body, Math.floor(Date.now() / 1000) + 600),
    ],
    ['garbage', 't=abc,v1=xyz'],
  ])('refuses %s with 401 INVALID_SIGNATURE and records nothing', async (_name, signature) => {
    const res = await post(signature);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('INVALID_SIGNATURE');
    expect(await recorded()).toBe(0);
  });

  it('refuses a body altered after signing', async () => {
    const signature = signPayload('alpha-dev-webhook-secret', body);
    const res = await post(signature, body.replace('100', '999'));
    expect(res.status).toBe(401);
  });

  it('answers 404 for an unknown charge and records nothing, so the gateway retries', async () => {
    const res = await post(signPayload('alpha-dev-webhook-secret', body));
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('CHARGE_NOT_FOUND');
    expect(await recorded()).toBe(0);
  });

  it.each(['gamma', '__proto__', 'constructor', 'toString'])(
    'answers 404 PROVIDER_NOT_FOUND for a provider named %s, signed or not',
    async (provider) => {
      const res = await post(signPayload('alpha-dev-webhook-secret', body), body, provider);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('PROVIDER_NOT_FOUND');
      expect(await recorded()).toBe(0);
    },
  );
});
