import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { idem, request } from './helpers/http.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ DB_POOL_MAX: '20' });
});
afterAll(async () => {
  await app.close();
});

describe('concurrent deposits on one wallet', () => {
  it('50 parallel deposits over HTTP sum exactly, with one ledger entry and one event each', async () => {
    const created = await request(app.baseUrl, 'POST', '/wallets', {
      body: { currency: 'USD' },
    });
    const walletId: string = created.body.id;
    const amounts = Array.from({ length: 50 }, (_, i) => (i + 1) * 7);
    const responses = await Promise.all(
      amounts.map((amount, i) =>
        request(app.baseUrl, 'POST', `/wallets/${walletId}/deposits`, {
          body: { amount },
          headers: idem(`par-${i}`),
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(amounts.map(() => 201));
    const expected = amounts.reduce((a, b) => a + b, 0);

    const wallet = await request(app.baseUrl, 'GET', `/wallets/${walletId}`);
    expect(wallet.body.balance).toBe(expected);
    expect(wallet.body.version).toBe(51);

    const entries = await app.database.db
      .selectFrom('ledger_entries')
      .select(['amount', 'balance_after'])
      .where('wallet_id', '=', walletId)
      .orderBy('seq')
      .execute();
    expect(entries).toHaveLength(50);
    expect(entries.reduce((s, e) => s + e.amount, 0)).toBe(expected);
    // Serialised by the row lock: each balance_after is the running sum in commit order.
    let running = 0;
    for (const e of entries) {
      running += e.amount;
      expect(e.balance_after).toBe(running);
    }
    const versions = await app.database.db
      .selectFrom('events')
      .select('version')
      .where('aggregate_id', '=', walletId)
      .orderBy('version')
      .execute();
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from audit__wallet_balances()`.execute(app.database.db);
    expect(rows[0]?.n).toBe(0);
  });
});
