import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_OWNER, type TestApp } from './helpers/app.ts';
import { idem, request } from './helpers/http.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const api = (method: string, path: string, options?: Parameters<typeof request>[3]) =>
  request(app.baseUrl, method, path, options);

async function newWallet() {
  const res = await api('POST', '/wallets', { body: { currency: 'USD' } });
  return res.body.id as string;
}
const ledgerCount = async (walletId: string) =>
  (
    await app.database.db
      .selectFrom('ledger_entries')
      .select('id')
      .where('wallet_id', '=', walletId)
      .execute()
  ).length;

describe('idempotent deposits', () => {
  it('replays the same status and body with Idempotent-Replayed, and applies once', async () => {
    const walletId = await newWallet();
    const first = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 700 },
      headers: idem('replay-1'),
    });
    const second = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 700 },
      headers: idem('replay-1'),
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    const wallet = await api('GET', `/wallets/${walletId}`);
    expect(wallet.body.balance).toBe(700);
    expect(await ledgerCount(walletId)).toBe(1);
  });

  it('treats a body with the same fields in another order as the same request', async () => {
    const walletId = await newWallet();
    const a = await api('POST', `/wallets/${walletId}/deposits`, {
      rawBody: '{"amount":5,"reference":"r"}',
      headers: { ...idem('order'), 'content-type': 'application/json' },
    });
    const b = await api('POST', `/wallets/${walletId}/deposits`, {
      rawBody: '{"reference":"r","amount":5}',
      headers: { ...idem('order'), 'content-type': 'application/json' },
    });
    expect(a.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
  });

  it('accepts x-idempotent-key as an alias of Idempotency-Key', async () => {
    const walletId = await newWallet();
    const first = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 50 },
      headers: { 'x-idempotent-key': 'alias-1' },
    });
    const second = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 50 },
      headers: idem('alias-1'),
    });
    expect(first.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await ledgerCount(walletId)).toBe(1);
  });

  it('refuses the same key with a different body or another wallet: 422 IDEMPOTENCY_KEY_REUSED, nothing applied', async () => {
    const walletId = await newWallet();
    const otherWallet = await newWallet();
    await api('POST', `/wallets/${walletId}/deposits`, { body: { amount: 100 }, headers: idem('reuse') });
    const differentBody = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 999 },
      headers: idem('reuse'),
    });
    expect(differentBody.status).toBe(422);
    expect(differentBody.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const differentWallet = await api('POST', `/wallets/${otherWallet}/deposits`, {
      body: { amount: 100 },
      headers: idem('reuse'),
    });
    expect(differentWallet.status).toBe(422);
    expect(differentWallet.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await api('GET', `/wallets/${walletId}`)).body.balance).toBe(100);
    expect((await api('GET', `/wallets/${otherWallet}`)).body.balance).toBe(0);
  });

  it('scopes keys per endpoint: the same key on POST /wallets is a separate request', async () => {
    const walletId = await newWallet();
    await api('POST', `/wallets/${walletId}/deposits`, { body: { amount: 10 }, headers: idem('scoped') });
    const created = await api('POST', '/wallets', {
      body: { currency: 'USD' },
      headers: idem('scoped'),
    });
    expect(created.status).toBe(201);
    const replay = await api('POST', '/wallets', {
      body: { currency: 'USD' },
      headers: idem('scoped'),
    });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.id).toBe(created.body.id);
  });

  it('does not store a failed request: the key can be used again once the cause is fixed', async () => {
    const missing = '0b8f1d2e-3c4a-4b5c-8d6e-7f8091a2b3c4';
    const notFound = await api('POST', `/wallets/${missing}/deposits`, {
      body: { amount: 10 },
      headers: idem('after-404'),
    });
    expect(notFound.status).toBe(404);
    const stored = await app.database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', 'after-404')
      .execute();
    expect(stored).toEqual([]);
    // The cause fixed (a wallet that exists): the same key is taken afresh, not replayed nor refused.
    const walletId = await newWallet();
    const retried = await api('POST', `/wallets/${walletId}/deposits`, {
      body: { amount: 10 },
      headers: idem('after-404'),
    });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(retried.body.wallet.balance).toBe(10);
    expect(await ledgerCount(walletId)).toBe(1);
  });

  it('gives 20 concurrent requests with one key exactly one effect; the others wait for it and replay its answer', async () => {
    const walletId = await newWallet();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        api('POST', `/wallets/${walletId}/deposits`, { body: { amount: 25 }, headers: idem('burst') }),
      ),
    );
    // The claim is the command transaction's first statement: a duplicate waits on the unique key
    // until the first commits, then replays; none is told to come back later.
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(201));
    const fresh = responses.filter((r) => r.headers.get('idempotent-replayed') === null);
    expect(fresh).toHaveLength(1);
    for (const r of responses) expect(r.body).toEqual(fresh[0]?.body);
    expect((await api('GET', `/wallets/${walletId}`)).body.balance).toBe(25);
    expect(await ledgerCount(walletId)).toBe(1);
  });

  it('lets a duplicate that waited on a failing first request run the command itself (nothing was done)', async () => {
    const walletId = await newWallet();
    // Hold the first request's transaction open on the key, then make it fail: its claim rolls back.
    const hold = await app.database.pool.connect();
    try {
      await hold.query('begin');
      const probe = await api('POST', `/wallets/${walletId}/deposits`, {
        body: { amount: 7 },
        headers: idem('hash-probe'),
      });
      const { request_hash } = await app.database.db
        .selectFrom('idempotency_keys')
        .select('request_hash')
        .where('key', '=', 'hash-probe')
        .executeTakeFirstOrThrow();
      await hold.query(
        `insert into idempotency_keys (owner_id, scope, key, request_hash, status, claim_token, locked_until, expires_at)
         values ($1, 'POST /wallets/:id/deposits', 'rolled-back', $2, 'IN_PROGRESS', gen_random_uuid(),
                 now() + interval '1 minute', now() + interval '1 day')`,
        [TEST_OWNER, request_hash],
      );
      expect(probe.status).toBe(201);
      const waiting = api('POST', `/wallets/${walletId}/deposits`, {
        body: { amount: 7 },
        headers: idem('rolled-back'),
      });
      // The duplicate is blocked on the uncommitted claim, not answered.
      const early = await Promise.race([waiting.then(() => 'answered'), sleep(300).then(() => 'waiting')]);
      expect(early).toBe('waiting');
      await hold.query('rollback');
      const after = await waiting;
      expect(after.status).toBe(201);
      expect(after.headers.get('idempotent-replayed')).toBeNull();
      expect(after.body.wallet.balance).toBe(14);
    } finally {
      hold.release();
    }
    expect(await ledgerCount(walletId)).toBe(2);
  });

  it('answers a deposit key reused after its retention 409 DEPOSIT_ALREADY_APPLIED, naming the entry, and applies nothing', async () => {
    const walletId = await newWallet();
    const path = `/wallets/${walletId}/deposits`;
    const first = await api('POST', path, { body: { amount: 30 }, headers: idem('kept-48h') });
    expect(first.status).toBe(201);
    // The retention cron runs idempotency__prune(); here, as if 1,000 hours had passed.
    const { rows } = await sql<{ pruned: number }>`
      select idempotency__prune(now() + interval '1000 hours')::int as pruned`.execute(app.database.db);
    expect(rows[0]?.pruned).toBeGreaterThanOrEqual(1);

    for (const amount of [30, 31]) {
      const again = await api('POST', path, { body: { amount }, headers: idem('kept-48h') });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(again.body).toMatchObject({ status: 409, code: 'DEPOSIT_ALREADY_APPLIED' });
      expect(again.body.detail).toContain(first.body.entry.id);
    }
    expect((await api('GET', `/wallets/${walletId}`)).body.balance).toBe(30);
    expect(await ledgerCount(walletId)).toBe(1);
    const keys = await app.database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', 'kept-48h')
      .execute();
    expect(keys).toEqual([]);
  });

  it('lets a retry take over a key whose first request died holding it (lease expired)', async () => {
    const walletId = await newWallet();
    const path = `/wallets/${walletId}/deposits`;
    // Simulate a request that claimed the key and crashed before committing: a stale IN_PROGRESS row.
    const first = await api('POST', path, { body: { amount: 40 }, headers: idem('probe-hash') });
    const { request_hash } = await app.database.db
      .selectFrom('idempotency_keys')
      .select('request_hash')
      .where('key', '=', 'probe-hash')
      .executeTakeFirstOrThrow();
    expect(first.status).toBe(201);
    await sql`insert into idempotency_keys (owner_id, scope, key, request_hash, status, claim_token, locked_until, expires_at)
              values (${TEST_OWNER}, 'POST /wallets/:id/deposits', 'crashed', ${request_hash}, 'IN_PROGRESS', gen_random_uuid(),
                      now() + interval '1 minute', now() + interval '1 day')`.execute(app.database.db);
    // Same body as 'probe-hash' so the hash matches; while the lease holds, a retry is told to wait.
    const during = await api('POST', path, { body: { amount: 40 }, headers: idem('crashed') });
    expect(during.status).toBe(409);
    expect(during.body.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    await sql`update idempotency_keys set locked_until = now() - interval '1 second' where key = 'crashed'`.execute(
      app.database.db,
    );
    const after = await api('POST', path, { body: { amount: 40 }, headers: idem('crashed') });
    expect(after.status).toBe(201);
    expect(after.body.wallet.balance).toBe(80);
  });
});

describe('idempotency__prune (the hourly retention cron)', () => {
  const keyRow = (key: string) =>
    app.database.db
      .selectFrom('idempotency_keys')
      .select(['key', 'status'])
      .where('key', '=', key)
      .executeTakeFirst();

  it('removes keys past their retention and keeps live ones; a pruned key is a new request again', async () => {
    const owner = { currency: 'USD' };
    const expired = await api('POST', '/wallets', { body: owner, headers: idem('prune-expired') });
    const live = await api('POST', '/wallets', { body: owner, headers: idem('prune-live') });
    expect([expired.status, live.status]).toEqual([201, 201]);
    // Fixture: 'prune-expired' reached the end of its retention a second ago.
    await sql`update idempotency_keys set expires_at = now() - interval '1 second'
               where key = 'prune-expired'`.execute(app.database.db);

    const { rows } = await sql<{ pruned: number }>`select idempotency__prune()::int as pruned`.execute(
      app.database.db,
    );
    expect(rows[0]?.pruned).toBeGreaterThanOrEqual(1);
    expect(await keyRow('prune-expired')).toBeUndefined();
    expect(await keyRow('prune-live')).toEqual({ key: 'prune-live', status: 'COMPLETED' });

    // The live key still replays its stored answer; the pruned one is unknown: a second wallet.
    const liveAgain = await api('POST', '/wallets', { body: owner, headers: idem('prune-live') });
    expect(liveAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(liveAgain.body.id).toBe(live.body.id);
    const expiredAgain = await api('POST', '/wallets', { body: owner, headers: idem('prune-expired') });
    expect(expiredAgain.status).toBe(201);
    expect(expiredAgain.headers.get('idempotent-replayed')).toBeNull();
    expect(expiredAgain.body.id).not.toBe(expired.body.id);
  });

  it('keeps a claim whose request is running (lease held) even when its retention has passed', async () => {
    const walletId = await newWallet();
    const path = `/wallets/${walletId}/deposits`;
    const probe = await api('POST', path, { body: { amount: 60 }, headers: idem('prune-probe') });
    expect(probe.status).toBe(201);
    const { request_hash } = await app.database.db
      .selectFrom('idempotency_keys')
      .select('request_hash')
      .where('key', '=', 'prune-probe')
      .executeTakeFirstOrThrow();
    // A key first claimed by a request that died, re-claimed now by its retry: the lease is live,
    // the expiry is still the first claim's (a re-claim does not move it), and it has just passed.
    await sql`insert into idempotency_keys (owner_id, scope, key, request_hash, status, claim_token, locked_until, expires_at)
              values (${TEST_OWNER}, 'POST /wallets/:id/deposits', 'prune-running', ${request_hash}, 'IN_PROGRESS',
                      gen_random_uuid(), now() + interval '1 minute', now() - interval '1 second')`.execute(
      app.database.db,
    );
    await sql`select idempotency__prune()`.execute(app.database.db);
    expect(await keyRow('prune-running')).toEqual({ key: 'prune-running', status: 'IN_PROGRESS' });
    // Still claimed: the same key is refused while the running request holds it.
    const during = await api('POST', path, { body: { amount: 60 }, headers: idem('prune-running') });
    expect(during.status).toBe(409);
    expect(during.body.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect((await api('GET', `/wallets/${walletId}`)).body.balance).toBe(60);
  });
});
