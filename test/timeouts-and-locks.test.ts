import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trx } from '../app/db/database.ts';
import { lockPaymentById } from '../app/payments/payment.repository.ts';
import { lockWalletById } from '../app/wallets/wallet.repository.ts';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { makeWallet, walletFootprint } from './helpers/factories.ts';
import { idem, request } from './helpers/http.ts';

/**
 * Every database session of a role has a statement, lock and idle-in-transaction timeout and a
 * connect timeout from config; the row locks our commands take leave the foreign-key checks of
 * other inserts alone.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    API_DB_STATEMENT_TIMEOUT_MS: '3000',
    DB_LOCK_TIMEOUT_MS: '400',
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '20000',
  });
});
afterAll(async () => {
  await app?.close();
});

/** Runs `hold` inside a transaction that stays open until `whileHeld` settles. */
async function holding<T>(hold: (trx: Trx) => Promise<unknown>, whileHeld: () => Promise<T>): Promise<T> {
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked: () => void = () => {};
  const isLocked = new Promise<void>((r) => {
    locked = r;
  });
  const tx = app.database.db.transaction().execute(async (trx) => {
    await hold(trx);
    locked();
    await released;
  });
  await isLocked;
  try {
    return await whileHeld();
  } finally {
    release();
    await tx;
  }
}

describe('locks and timeouts', () => {
  it("a money movement's wallet lock does not block a new payment's foreign-key check on that wallet", async () => {
    const wallet = await makeWallet(app.database, { balance: 1000 });
    const res = await holding(
      (trx) => lockWalletById(trx, wallet.id),
      () =>
        request(app.baseUrl, 'POST', '/payments', {
          body: { wallet_id: wallet.id, service_id: 'svc', amount: 100, currency: 'USD' },
          headers: idem(`fk-${wallet.id}`),
        }),
    );
    // With FOR UPDATE on the wallet the insert waits on its KEY SHARE lock, then times out.
    expect(res.status).toBe(202);
  });

  it('a payment row lock does not block the inserts that reference the payment', async () => {
    const wallet = await makeWallet(app.database, { balance: 1000 });
    const paid = await request(app.baseUrl, 'POST', '/payments', {
      body: { wallet_id: wallet.id, service_id: 'svc', amount: 100, currency: 'USD' },
      headers: idem(`pk-${wallet.id}`),
    });
    expect(paid.status).toBe(202);
    const inserted = await holding(
      (trx) => lockPaymentById(trx, paid.body.id),
      () =>
        app.database.pool.query(
          `insert into payment_steps (payment_id, name, status, attempt) values ($1, 'probe', 'ok', 1) returning id`,
          [paid.body.id],
        ),
    );
    expect(inserted.rowCount).toBe(1);
  });

  it('a request that waits on a lock longer than DB_LOCK_TIMEOUT_MS answers 503 and changes nothing', async () => {
    const wallet = await makeWallet(app.database, { balance: 1000 });
    const before = await walletFootprint(app.database, wallet.id);
    const res = await holding(
      (trx) => trx.selectFrom('wallets').select('id').where('id', '=', wallet.id).forUpdate().execute(),
      () =>
        request(app.baseUrl, 'POST', `/wallets/${wallet.id}/deposits`, {
          body: { amount: 50 },
          headers: idem(`lock-${wallet.id}`),
        }),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
    const after = await walletFootprint(app.database, wallet.id);
    expect({ ...after, idempotencyKeys: before.idempotencyKeys }).toEqual(before);
    // The same key, once the lock is gone, applies the deposit once.
    const retry = await request(app.baseUrl, 'POST', `/wallets/${wallet.id}/deposits`, {
      body: { amount: 50 },
      headers: idem(`lock-${wallet.id}`),
    });
    expect(retry.status).toBe(201);
    expect(retry.body.wallet.balance).toBe(1050);
  });

  it("sets each role's timeouts on every session of its pool", async () => {
    const { createRolePool } = await import('../app/db/database.ts');
    const { testConfig } = await import('./helpers/app.ts');
    const config = testConfig(app.database.url, {
      WORKER_DB_STATEMENT_TIMEOUT_MS: '45000',
      DB_LOCK_TIMEOUT_MS: '1500',
      DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '30000',
    });
    const database = createRolePool(config, 'worker', { max: 1 });
    try {
      const { rows } = await database.pool.query<Record<string, string>>(
        `select current_setting('statement_timeout') as statement,
                current_setting('lock_timeout') as lock,
                current_setting('idle_in_transaction_session_timeout') as idle`,
      );
      expect(rows[0]).toEqual({ statement: '45s', lock: '1500ms', idle: '30s' });
    } finally {
      await database.close();
    }
  });
});
