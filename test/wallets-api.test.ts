import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_OWNER, type TestApp } from './helpers/app.ts';
import { idem, request } from './helpers/http.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const api = (method: string, path: string, options?: Parameters<typeof request>[3]) =>
  request(app.baseUrl, method, path, options);

async function newWallet(currency = 'USD') {
  const res = await api('POST', '/wallets', { body: { currency } });
  expect(res.status).toBe(201);
  return res.body as { id: string; balance: number; version: number };
}

describe('wallets API', () => {
  it('creates a wallet with a zero balance at version 1 and returns it by id', async () => {
    const created = await api('POST', '/wallets', { body: { currency: 'EUR' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ owner_id: TEST_OWNER, currency: 'EUR', balance: 0, version: 1 });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(created.body.created_at).toISOString()).toBe(created.body.created_at);

    const fetched = await api('GET', `/wallets/${created.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
  });

  it('deposits: balance, ledger entry, wallet.deposited event and outbox row in one go', async () => {
    const wallet = await newWallet();
    const res = await api('POST', `/wallets/${wallet.id}/deposits`, {
      body: { amount: 1230, reference: 'top-up' },
      headers: idem('dep-1'),
    });
    expect(res.status).toBe(201);
    expect(res.body.wallet).toMatchObject({ id: wallet.id, balance: 1230, version: 2 });
    expect(res.body.entry).toMatchObject({
      wallet_id: wallet.id,
      type: 'DEPOSIT',
      amount: 1230,
      balance_after: 1230,
      payment_id: null,
      reference: 'top-up',
    });

    const events = await app.database.db
      .selectFrom('events')
      .selectAll()
      .where('aggregate_id', '=', wallet.id)
      .orderBy('version')
      .execute();
    expect(events.map((e) => e.event_type)).toEqual(['wallet.created', 'wallet.deposited']);
    expect(events[1]?.data).toMatchObject({ entry_id: res.body.entry.id, amount: 1230, balance_after: 1230 });
    // The HTTP request's trace id is carried into the event.
    expect(events[1]?.trace_id).toBe(res.headers.get('x-trace-id'));
    const outbox = await app.database.db
      .selectFrom('outbox')
      .select(['event_id', 'topic'])
      .where('key', '=', wallet.id)
      .execute();
    expect(outbox.map((o) => o.event_id).sort()).toEqual(events.map((e) => e.event_id).sort());
    expect(new Set(outbox.map((o) => o.topic))).toEqual(new Set(['wallets.events']));
  });

  it('carries a W3C traceparent trace id into the events it causes', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await api('POST', '/wallets', {
      body: { currency: 'USD' },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.headers.get('x-trace-id')).toBe(traceId);
    const event = await app.database.db
      .selectFrom('events')
      .select('trace_id')
      .where('aggregate_id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(event.trace_id).toBe(traceId);
  });

  it('pages the ledger newest first with an opaque cursor until next_cursor is null', async () => {
    const wallet = await newWallet();
    for (let i = 1; i <= 5; i++) {
      const res = await api('POST', `/wallets/${wallet.id}/deposits`, {
        body: { amount: i * 100 },
        headers: idem(`page-${i}`),
      });
      expect(res.status).toBe(201);
    }
    const amounts: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = await api('GET', `/wallets/${wallet.id}/ledger${query}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      amounts.push(...page.body.items.map((e: { amount: number }) => e.amount));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(amounts).toEqual([500, 400, 300, 200, 100]);
  });

  it('returns an empty ledger page for a new wallet and 404 for an unknown one', async () => {
    const wallet = await newWallet();
    const empty = await api('GET', `/wallets/${wallet.id}/ledger`);
    expect(empty.body).toEqual({ items: [], next_cursor: null });
    const missing = await api('GET', '/wallets/00000000-0000-4000-8000-000000000000/ledger');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('WALLET_NOT_FOUND');
  });

  it('keeps balance = sum(ledger) = replay(events) for every wallet (audit is clean)', async () => {
    const res = await api('GET', '/admin/audit', {
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(res.status).toBe(200);
    expect(res.body.discrepancies).toBe(0);
    expect(res.body.checks.wallet_balances).toEqual([]);
    expect(res.body.checks.money_conservation.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });
});
