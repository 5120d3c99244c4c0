import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { idem, request } from './helpers/http.ts';

/**
 * Keyset pagination of GET /payments on (created_at, id): Postgres keeps microseconds, so a cursor
 * must too, or rows created in the same millisecond as a page's last row are skipped (or repeated).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const api = (method: string, path: string, options?: Parameters<typeof request>[3]) =>
  request(app.baseUrl, method, path, options);

describe('payments pagination', () => {
  it('neither drops nor repeats payments created in the same millisecond', async () => {
    const wallet = await api('POST', '/wallets', { body: { currency: 'USD' } });
    const walletId = wallet.body.id as string;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await api('POST', '/payments', {
        body: { wallet_id: walletId, service_id: 'svc', amount: 10 + i, currency: 'USD' },
        headers: idem(`same-ms-${i}`),
      });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    // All seven within one millisecond, a microsecond apart (no worker runs: they stay PENDING).
    await sql`update payments p set created_at = timestamptz '2026-01-01 00:00:00.123+00'
                                              + make_interval(secs => n.i / 1e6)
                from (select id, row_number() over (order by id) as i from payments where wallet_id = ${walletId}) n
               where p.id = n.id`.execute(app.database.db);

    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const query: string = `wallet_id=${walletId}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await api('GET', `/payments?${query}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((p: { id: string }) => p.id));
        cursor = res.body.next_cursor;
        if (cursor === null) break;
      }
      expect(seen, `limit ${limit}`).toHaveLength(ids.length);
      expect([...seen].sort(), `limit ${limit}`).toEqual([...ids].sort());
    }
  });
});
