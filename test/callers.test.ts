import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RateLimiterRes } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PostgresClockRateLimiter } from '../app/http/postgres-clock-rate-limiter.ts';
import { ensureDevApiKey } from '../scripts/lib/dev-api-key.ts';
import { ADMIN_TOKEN, createTestApiKey, startTestApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { walletFootprint } from './helpers/factories.ts';
import { idem, type JsonResponse, request } from './helpers/http.ts';
import { spawnRole } from './helpers/processes.ts';

/**
 * Callers (docs/security.md): a key acts for its owner, sees and moves only that owner's
 * money, may write only with the `write` scope, and is refused at once everywhere once revoked. Two
 * API processes over one database, as in production behind a load balancer: one in this process,
 * one a process of its own (nothing it knows can come from this one's memory).
 */
let database: TestDatabase;
let one: TestApp;
let two: Api;

interface Api {
  baseUrl: string;
  close(): Promise<void>;
}
/** `app/main.ts` as a process of its own on `db`. */
async function spawnApi(db: TestDatabase, env: Record<string, string> = {}): Promise<Api> {
  const proc = spawnRole('app/main.ts', {
    DATABASE_URL: db.url,
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    PORT: '0',
    RATE_LIMIT_PER_SECOND: '100000',
    ...env,
  });
  const baseUrl = `http://127.0.0.1:${await proc.listening('http')}`;
  return { baseUrl, close: () => proc.kill('SIGTERM') };
}
const keys = {} as Record<'alice' | 'aliceRead' | 'bob', string>;
let aliceWallet: string;
let alicePayment: string;

beforeAll(async () => {
  database = await createTestDatabase();
  [one, two] = await Promise.all([startTestApp({}, database), spawnApi(database)]);
  keys.alice = await createTestApiKey(database, undefined, 'alice');
  keys.aliceRead = await createTestApiKey(database, undefined, 'alice', ['read']);
  keys.bob = await createTestApiKey(database, undefined, 'bob');
  const wallet = await request(one.baseUrl, 'POST', '/wallets', {
    body: { currency: 'USD' },
    key: keys.alice,
  });
  expect(wallet.status).toBe(201);
  aliceWallet = wallet.body.id;
  const deposit = await request(one.baseUrl, 'POST', `/wallets/${aliceWallet}/deposits`, {
    body: { amount: 10_000 },
    headers: idem('seed'),
    key: keys.alice,
  });
  expect(deposit.status).toBe(201);
  // No worker runs: the payment stays PENDING, which is all these tests need of it.
  const payment = await request(one.baseUrl, 'POST', '/payments', {
    body: { wallet_id: aliceWallet, service_id: 's', amount: 100, currency: 'USD' },
    headers: idem('seed-payment'),
    key: keys.alice,
  });
  expect(payment.status).toBe(202);
  alicePayment = payment.body.id;
});
afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await database?.drop();
});

interface Endpoint {
  method: 'GET' | 'POST';
  path: (ids: { wallet: string; payment: string }) => string;
  body?: unknown;
  /** The 404 code when the wallet or payment in the path is not the caller's. */
  notFound?: string;
}
const ENDPOINTS: Record<string, Endpoint> = {
  'POST /wallets': { method: 'POST', path: () => '/wallets', body: { currency: 'USD' } },
  'GET /wallets/:id': { method: 'GET', path: (i) => `/wallets/${i.wallet}`, notFound: 'WALLET_NOT_FOUND' },
  'POST /wallets/:id/deposits': {
    method: 'POST',
    path: (i) => `/wallets/${i.wallet}/deposits`,
    body: { amount: 5 },
    notFound: 'WALLET_NOT_FOUND',
  },
  'GET /wallets/:id/ledger': {
    method: 'GET',
    path: (i) => `/wallets/${i.wallet}/ledger`,
    notFound: 'WALLET_NOT_FOUND',
  },
  'POST /payments': {
    method: 'POST',
    path: () => '/payments',
    // The wallet is in the body: another owner's wallet is not found either.
    body: undefined,
    notFound: 'WALLET_NOT_FOUND',
  },
  'GET /payments': { method: 'GET', path: () => '/payments' },
  'GET /payments/:id': {
    method: 'GET',
    path: (i) => `/payments/${i.payment}`,
    notFound: 'PAYMENT_NOT_FOUND',
  },
  'GET /payments/:id/events': {
    method: 'GET',
    path: (i) => `/payments/${i.payment}/events`,
    notFound: 'PAYMENT_NOT_FOUND',
  },
  'POST /payments/:id/refunds': {
    method: 'POST',
    path: (i) => `/payments/${i.payment}/refunds`,
    body: { amount: 10 },
    notFound: 'PAYMENT_NOT_FOUND',
  },
};
const call = (
  base: string,
  name: string,
  key: string | null,
  ids: { wallet: string; payment: string },
  idempotencyKey = randomUUID(),
) => {
  const e = ENDPOINTS[name] as Endpoint;
  const body =
    name === 'POST /payments'
      ? { wallet_id: ids.wallet, service_id: 's', amount: 1, currency: 'USD' }
      : e.body;
  return request(base, e.method, e.path(ids), {
    body,
    key,
    headers: e.method === 'POST' ? idem(idempotencyKey) : {},
  });
};
const alices = () => ({ wallet: aliceWallet, payment: alicePayment });
const problem = (res: JsonResponse) => ({ status: res.status, code: res.body?.code });

describe('every endpoint', () => {
  it('answers another owner’s wallet or payment exactly as a missing one (404), and changes nothing', async () => {
    const before = await walletFootprint(database, aliceWallet);
    for (const [name, e] of Object.entries(ENDPOINTS)) {
      if (!e.notFound) continue;
      const foreign = await call(one.baseUrl, name, keys.bob, alices());
      const missing = await call(one.baseUrl, name, keys.bob, {
        wallet: randomUUID(),
        payment: randomUUID(),
      });
      expect(problem(foreign), name).toEqual({ status: 404, code: e.notFound });
      expect(problem(missing), name).toEqual(problem(foreign));
      // Same body but for the id it names: nothing tells "exists, not yours" from "does not exist".
      expect(Object.keys(foreign.body).sort(), name).toEqual(Object.keys(missing.body).sort());
      expect(foreign.body.title, name).toBe(missing.body.title);
    }
    expect(await walletFootprint(database, aliceWallet)).toEqual(before);
  });

  it('lists only the caller’s payments, even when asked for another owner’s wallet', async () => {
    const mine = await request(one.baseUrl, 'GET', '/payments', { key: keys.alice });
    expect(mine.body.items.map((p: { id: string }) => p.id)).toContain(alicePayment);
    const theirs = await request(one.baseUrl, 'GET', '/payments', { key: keys.bob });
    expect(theirs.status).toBe(200);
    expect(theirs.body.items).toEqual([]);
    const filtered = await request(one.baseUrl, 'GET', `/payments?wallet_id=${aliceWallet}`, {
      key: keys.bob,
    });
    expect(filtered.body.items).toEqual([]);
  });

  it('refuses a read key on every write (403 INSUFFICIENT_SCOPE) and lets it read', async () => {
    const before = await walletFootprint(database, aliceWallet);
    for (const [name, e] of Object.entries(ENDPOINTS)) {
      const res = await call(two.baseUrl, name, keys.aliceRead, alices());
      if (e.method === 'GET') expect(res.status, name).toBe(200);
      else {
        expect(problem(res), name).toEqual({ status: 403, code: 'INSUFFICIENT_SCOPE' });
        expect(res.headers.get('www-authenticate'), name).toMatch(/insufficient_scope/);
      }
    }
    expect(await walletFootprint(database, aliceWallet)).toEqual(before);
  });

  it('refuses no key, a malformed key and an unknown key (401 UNAUTHENTICATED, WWW-Authenticate: Bearer)', async () => {
    const before = await walletFootprint(database, aliceWallet);
    const unknown = `wpk_00000000_${'A'.repeat(32)}`;
    for (const name of Object.keys(ENDPOINTS))
      for (const key of [null, 'not-a-key', unknown]) {
        const res = await call(one.baseUrl, name, key, alices());
        expect(problem(res), `${name} with ${key}`).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    expect(await walletFootprint(database, aliceWallet)).toEqual(before);
  });
});

describe('the Authorization header', () => {
  it('takes the scheme in any case, and refuses a keyless request before reading its body', async () => {
    const lower = await request(one.baseUrl, 'GET', `/wallets/${aliceWallet}`, {
      key: null,
      headers: { authorization: `bearer ${keys.alice}` },
    });
    expect(lower.status).toBe(200);
    // Malformed JSON, a wrong content type: without a key the answer is 401, not 400 or 415.
    const malformed = await request(one.baseUrl, 'POST', '/payments', {
      key: null,
      rawBody: '{"wallet_id":',
      headers: { 'content-type': 'application/json', ...idem('no-key') },
    });
    expect(problem(malformed)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    const text = await request(one.baseUrl, 'POST', '/payments', {
      key: null,
      rawBody: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(problem(text)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    // With a key, the same body gets its own answer.
    const keyed = await request(one.baseUrl, 'POST', '/payments', {
      key: keys.alice,
      rawBody: '{"wallet_id":',
      headers: { 'content-type': 'application/json', ...idem('keyed') },
    });
    expect(problem(keyed)).toEqual({ status: 400, code: 'MALFORMED_JSON' });
  });
});

describe('the development key of npm start', () => {
  it('is made once and kept; a lost file makes a new one and revokes the old', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-devkey-'));
    try {
      const file = path.join(dir, 'dev-api-key');
      const first = await ensureDevApiKey(database.url, file);
      const again = await ensureDevApiKey(database.url, file);
      expect(first.created).toBe(true);
      expect(again).toEqual({ key: first.key, created: false });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const wallet = await request(one.baseUrl, 'POST', '/wallets', {
        body: { currency: 'USD' },
        key: first.key,
      });
      expect(wallet.body.owner_id).toBe('dev');
      rmSync(file);
      const replaced = await ensureDevApiKey(database.url, file);
      expect(replaced.created).toBe(true);
      expect(replaced.key).not.toBe(first.key);
      expect((await request(one.baseUrl, 'GET', '/payments', { key: first.key })).status).toBe(401);
      expect((await request(one.baseUrl, 'GET', '/payments', { key: replaced.key })).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the admin key endpoints', () => {
  it('refuse bad input with a clear 4xx and make no key', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const count = async () =>
      Number(
        (
          await database.db
            .selectFrom('api_keys')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const bodies: Array<[unknown, string]> = [
      [{}, 'body.owner_id'],
      [{ owner_id: '' }, 'body.owner_id'],
      [{ owner_id: 'o'.repeat(129) }, 'body.owner_id'],
      [{ owner_id: 'alice', scopes: ['write'] }, 'body.scopes'],
      [{ owner_id: 'alice', scopes: ['read', 'write', 'admin'] }, 'body.scopes'],
      [{ owner_id: 'alice', description: 'd'.repeat(201) }, 'body.description'],
      [{ owner_id: 'alice', owner: 'bob' }, 'body'],
      [{ owner_id: 'alice\u0000' }, 'body.owner_id'],
    ];
    for (const [body, path] of bodies) {
      const res = await request(one.baseUrl, 'POST', '/admin/api-keys', { body, key: null, headers: admin });
      expect(problem(res), JSON.stringify(body)).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
      expect(res.body.errors.map((e: { path: string }) => e.path).join(' '), JSON.stringify(body)).toContain(
        path,
      );
    }
    const malformed = await request(one.baseUrl, 'POST', '/admin/api-keys', {
      rawBody: '{"owner_id":',
      key: null,
      headers: { ...admin, 'content-type': 'application/json' },
    });
    expect(problem(malformed)).toEqual({ status: 400, code: 'MALFORMED_JSON' });
    const oversized = await request(one.baseUrl, 'POST', '/admin/api-keys', {
      body: { owner_id: 'alice', description: 'x'.repeat(200_000) },
      key: null,
      headers: admin,
    });
    expect(oversized.status).toBe(413);
    // An API key is not the admin token.
    const withKey = await request(one.baseUrl, 'POST', '/admin/api-keys', { body: { owner_id: 'alice' } });
    expect(withKey.status).toBe(401);
    expect(await count()).toBe(before);
    const revoked = async () =>
      (await database.db.selectFrom('api_keys').select('id').where('revoked_at', 'is not', null).execute())
        .length;
    const revokedBefore = await revoked();
    for (const [id, status, code] of [
      ['not-a-uuid', 404, 'API_KEY_NOT_FOUND'],
      [randomUUID(), 404, 'API_KEY_NOT_FOUND'],
      ['%ZZ', 400, 'MALFORMED_URL'],
    ] as const) {
      const res = await request(one.baseUrl, 'DELETE', `/admin/api-keys/${id}`, {
        key: null,
        headers: admin,
      });
      expect(problem(res), id).toEqual({ status, code });
    }
    expect(await revoked()).toBe(revokedBefore);
    expect(
      problem(
        await request(one.baseUrl, 'GET', '/admin/api-keys?owner_id=a&extra=1', {
          key: null,
          headers: admin,
        }),
      ),
    ).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
  });
});

describe('revocation', () => {
  it('takes effect at once on every API process', async () => {
    const key = await createTestApiKey(database, undefined, 'alice');
    for (const api of [one, two])
      expect((await request(api.baseUrl, 'GET', `/wallets/${aliceWallet}`, { key })).status).toBe(200);
    const listed = await request(one.baseUrl, 'GET', '/admin/api-keys?owner_id=alice', {
      key: null,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const id = listed.body.items.find((k: { prefix: string }) => key.startsWith(`${k.prefix}_`))?.id;
    const revoked = await request(two.baseUrl, 'DELETE', `/admin/api-keys/${id}`, {
      key: null,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(revoked.status).toBe(204);
    for (const api of [one, two]) {
      const res = await request(api.baseUrl, 'GET', `/wallets/${aliceWallet}`, { key });
      expect(problem(res)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    }
  });
});

describe('ownership of what callers create', () => {
  it('gives a wallet the key’s owner; naming another owner is 403 FORBIDDEN and creates nothing', async () => {
    const own = await request(one.baseUrl, 'POST', '/wallets', {
      body: { owner_id: 'bob', currency: 'EUR' },
      key: keys.bob,
    });
    expect(own.status).toBe(201);
    expect(own.body.owner_id).toBe('bob');
    const count = async () =>
      Number(
        (
          await database.db
            .selectFrom('wallets')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const other = await request(one.baseUrl, 'POST', '/wallets', {
      body: { owner_id: 'alice', currency: 'EUR' },
      key: keys.bob,
    });
    expect(problem(other)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect(await count()).toBe(before);
  });

  it('keeps idempotency keys apart per owner: the same key makes two independent results', async () => {
    const bobWallet = (
      await request(one.baseUrl, 'POST', '/wallets', { body: { currency: 'USD' }, key: keys.bob })
    ).body.id;
    const shared = `shared-${randomUUID()}`;
    const byAlice = await request(one.baseUrl, 'POST', `/wallets/${aliceWallet}/deposits`, {
      body: { amount: 7 },
      headers: idem(shared),
      key: keys.alice,
    });
    const byBob = await request(two.baseUrl, 'POST', `/wallets/${bobWallet}/deposits`, {
      body: { amount: 9 },
      headers: idem(shared),
      key: keys.bob,
    });
    expect([byAlice.status, byBob.status]).toEqual([201, 201]);
    expect(byBob.headers.get('idempotent-replayed')).toBeNull();
    expect(byBob.body.entry.id).not.toBe(byAlice.body.entry.id);
    expect(byBob.body.wallet).toMatchObject({ id: bobWallet, balance: 9 });
    // Each owner's replay answers its own result.
    const again = await request(one.baseUrl, 'POST', `/wallets/${bobWallet}/deposits`, {
      body: { amount: 9 },
      headers: idem(shared),
      key: keys.bob,
    });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.entry.id).toBe(byBob.body.entry.id);
  });
});

describe('rate limit', () => {
  it('holds across two API processes together, with RateLimit-* headers and a 429 that changes nothing', async () => {
    const db = await createTestDatabase();
    const limited = { RATE_LIMIT_PER_SECOND: '5', RATE_LIMIT_BURST: '5' };
    const [a, b] = await Promise.all([spawnApi(db, limited), spawnApi(db, limited)]);
    try {
      const key = await createTestApiKey(db, undefined, 'carol');
      const wallet = await request(a.baseUrl, 'POST', '/wallets', { body: { currency: 'USD' }, key });
      const before = await walletFootprint(db, wallet.body.id);
      // 40 deposits at once, alternating between the processes: far over 5 a second plus a burst of 5.
      const from = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          request([a, b][i % 2]?.baseUrl as string, 'POST', `/wallets/${wallet.body.id}/deposits`, {
            body: { amount: 1 },
            headers: idem(`limited-${i}`),
            key,
          }),
        ),
      );
      const to = Date.now();
      const ok = answers.filter((r) => r.status === 201);
      const refused = answers.filter((r) => r.status === 429);
      expect(ok.length + refused.length).toBe(40);
      // Shared: together the two processes let through what one limit allows (the burst's 5, and 5
      // for each one-second window the requests spanned), not twice that.
      const windows = Math.floor(to / 1000) - Math.floor(from / 1000) + 1;
      expect(ok.length).toBeGreaterThanOrEqual(5);
      expect(ok.length).toBeLessThanOrEqual(5 + 5 * windows);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.body.code).toBe('RATE_LIMITED');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.headers.get('ratelimit-limit')).toBe('5');
        expect(r.headers.get('ratelimit-remaining')).toBe('0');
      }
      expect(ok[0]?.headers.get('ratelimit-limit')).toBe('5');
      // A refused deposit changed nothing: the balance is exactly the accepted ones.
      const after = await walletFootprint(db, wallet.body.id);
      expect(after.wallet?.balance).toBe(ok.length);
      expect(after.ledgerEntries - before.ledgerEntries).toBe(ok.length);
      expect(after.idempotencyKeys - before.idempotencyKeys).toBe(ok.length);
      // Another key has a budget of its own.
      const other = await createTestApiKey(db, undefined, 'carol');
      expect((await request(b.baseUrl, 'GET', `/wallets/${wallet.body.id}`, { key: other })).status).toBe(
        200,
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
      await db.drop();
    }
  });
});

describe('rate limit and clocks', () => {
  /** The limiter of one API host whose clock is `offsetMs` off (Date.now is what the library reads). */
  async function onHostWithClock<T>(offsetMs: number, fn: (limiter: PostgresClockRateLimiter) => Promise<T>) {
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
    try {
      return await fn(
        new PostgresClockRateLimiter({
          storeClient: database.pool,
          storeType: 'pool',
          tableName: 'rate_limits',
          tableCreated: true,
          keyPrefix: 'clock-test',
          points: 5,
          duration: 1,
        }),
      );
    } finally {
      clock.mockRestore();
    }
  }
  const outcome = (p: Promise<RateLimiterRes>) =>
    p.then(
      (r) => ({ allowed: true, msBeforeNext: r.msBeforeNext }),
      (r: RateLimiterRes) => ({ allowed: false, msBeforeNext: r.msBeforeNext }),
    );
  const TEN_MINUTES = 10 * 60_000;

  it('counts a window by Postgres’s clock: a host ten minutes ahead does not take it for ended', async () => {
    const key = randomUUID();
    for (let i = 0; i < 5; i++)
      expect((await onHostWithClock(0, (l) => outcome(l.consume(key)))).allowed).toBe(true);
    // With its own clock, this host would find the window ended and start a new one: a 6th allowed.
    const sixth = await onHostWithClock(TEN_MINUTES, (l) => outcome(l.consume(key)));
    expect(sixth.allowed).toBe(false);
    expect(sixth.msBeforeNext).toBeLessThanOrEqual(1000);
  });

  it('ends a window opened by a host ten minutes ahead a second later for every host (no lockout)', async () => {
    const key = randomUUID();
    for (let i = 0; i < 6; i++) await onHostWithClock(TEN_MINUTES, (l) => outcome(l.consume(key)));
    // Refused now, but for the rest of this second only (with that host's clock: ten minutes).
    const refused = await onHostWithClock(0, (l) => outcome(l.consume(key)));
    expect(refused.allowed).toBe(false);
    expect(refused.msBeforeNext).toBeLessThanOrEqual(1000);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await onHostWithClock(0, (l) => outcome(l.consume(key)))).allowed).toBe(true);
  });
});

describe('keys never appear in logs', () => {
  it('an API process at debug logs the key’s prefix and owner, never the key', async () => {
    const api = spawnRole('app/main.ts', {
      DATABASE_URL: database.url,
      ADMIN_TOKEN,
      LOG_LEVEL: 'debug',
      PORT: '0',
    });
    try {
      const base = `http://127.0.0.1:${await api.listening('http')}`;
      const created = await request(base, 'POST', '/admin/api-keys', {
        body: { owner_id: 'dave', description: 'log test' },
        key: null,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(created.status).toBe(201);
      const key: string = created.body.key;
      expect(key).toMatch(/^wpk_[0-9a-f]{8}_/);
      expect((await request(base, 'POST', '/wallets', { body: { currency: 'USD' }, key })).status).toBe(201);
      expect((await request(base, 'GET', '/payments', { key: `${key}x` })).status).toBe(401);
      await api.kill('SIGTERM');
      const output = api.output();
      expect(output).toContain(`wpk_${key.slice(4, 12)}`); // the prefix is there, for support
      expect(output).toContain('"ownerId":"dave"');
      const secret = key.slice(13);
      expect(output).not.toContain(secret);
      expect(output).not.toContain(ADMIN_TOKEN);
      // Stored as a hash only.
      const stored = await database.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', created.body.id)
        .execute();
      expect(JSON.stringify(stored)).not.toContain(secret);
    } finally {
      await api.kill('SIGTERM');
    }
  });
});

describe('the gateway simulator in production', () => {
  it('needs its control token for fault injection; the gateway API itself does not', async () => {
    const token = 'sim-control-7c1e9a2f4b6d8e0a';
    const sim = spawnRole('gateway-sim/main.ts', {
      NODE_ENV: 'production',
      GATEWAY_SIM_PORT: '0',
      GATEWAY_ALPHA_SECRET: 'whsec_alpha_41c7e9b2d05f',
      GATEWAY_BETA_SECRET: 'whsec_beta_8e2a6c0f13d9',
      GATEWAY_SIM_CONTROL_TOKEN: token,
      LOG_LEVEL: 'warn',
    });
    try {
      const base = `http://127.0.0.1:${await sim.listening('http')}`;
      const down = { body: { down: true }, key: null };
      const refused = await request(base, 'POST', '/alpha/_control', down);
      expect(refused.status).toBe(401);
      expect((await request(base, 'GET', '/alpha/_control/charges', { key: null })).status).toBe(401);
      expect(
        (
          await request(base, 'POST', '/alpha/_control', {
            ...down,
            headers: { authorization: 'Bearer wrong' },
          })
        ).status,
      ).toBe(401);
      // Still up: the refused call changed nothing.
      const charge = await request(base, 'POST', '/alpha/charges', {
        key: null,
        headers: { 'idempotency-key': 'c1' },
        body: { amount: 100, currency: 'USD', reference: 'r1', callback_url: 'http://127.0.0.1:9/none' },
      });
      expect(charge.status).toBe(202);
      const allowed = await request(base, 'POST', '/alpha/_control', {
        ...down,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(allowed.status).toBe(200);
      expect(allowed.body.controls.down).toBe(true);
    } finally {
      await sim.kill('SIGTERM');
    }
  });
});
