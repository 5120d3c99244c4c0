import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApiKey } from './helpers/app.ts';
import { chargesFor } from './helpers/gateway.ts';
import { idem, request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * The fraud check with the rules a deployment gets when it sets nothing: FRAUD_MAX_AMOUNT
 * 100000000, FRAUD_VELOCITY_PER_MINUTE 30, FRAUD_DECLINE_SCORE 80 (app/config.ts). FAST_ENV raises
 * the velocity limit for the other saga tests; an empty value means unset (loadConfig), so this
 * worker runs on the product's defaults.
 */
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({ FRAUD_VELOCITY_PER_MINUTE: '' });
});
afterAll(async () => {
  await system?.close();
});

/** `key`: the payment owner's API key, when not the test's own. */
const payment = async (id: string, key?: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${id}`, { key })).body;
const eventsOf = async (id: string, key?: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${id}/events`, { key })).body.items.map(
    (e: { event_type: string; data: unknown }) => ({ type: e.event_type, data: e.data }),
  );
/** The fraud step's decision, once the fraud check has run. */
const fraudDecision = (id: string) =>
  waitFor(`the fraud check of ${id}`, async () => {
    const { rows } = await sql<{ approved: boolean; score: number; reasons: string[] }>`
      select data->'approved' as approved, (data->>'score')::int as score, data->'reasons' as reasons
        from events where aggregate_id = ${id}::uuid and event_type = 'payment.fraud_checked'`.execute(
      system.database.db,
    );
    return rows[0];
  });

/** A payment the fraud check rejected: its events, no money moved, nothing asked of the gateway. */
async function expectRejectedForFraud(id: string, reasons: string[], key?: string) {
  const settled = await waitFor(`payment ${id} to settle`, async () => {
    const p = await payment(id, key);
    return ['PENDING', 'PROCESSING'].includes(p.status) ? undefined : p;
  });
  expect(settled).toMatchObject({
    status: 'REJECTED',
    failure_reason: 'FRAUD_SUSPECTED',
    provider: null,
  });
  expect(await eventsOf(id, key)).toEqual([
    { type: 'payment.requested', data: expect.anything() },
    { type: 'payment.fraud_checked', data: { approved: false, score: 100, reasons } },
    { type: 'payment.rejected', data: { reason: 'FRAUD_SUSPECTED' } },
  ]);
  const { rows } = await sql`select 1 from ledger_entries where source_ref like ${`payment:${id}:%`}`.execute(
    system.database.db,
  );
  expect(rows).toEqual([]);
  expect(await chargesFor(system.gatewayUrl, 'alpha', id)).toEqual([]);
  expect(await chargesFor(system.gatewayUrl, 'beta', id)).toEqual([]);
}

describe('fraud rules with their defaults', () => {
  it('rejects an amount over FRAUD_MAX_AMOUNT (100000000); the maximum itself passes, scored HIGH_AMOUNT (30 < 80)', async () => {
    const walletId = await system.newWallet(300_000_000);
    const over = (await system.pay(walletId, 100_000_001)).body;
    await expectRejectedForFraud(over.id, ['AMOUNT_OVER_LIMIT']);

    const atMax = (await system.pay(walletId, 100_000_000)).body;
    expect(await fraudDecision(atMax.id)).toEqual({ approved: true, score: 30, reasons: ['HIGH_AMOUNT'] });
    const atHalf = (await system.pay(walletId, 50_000_000)).body;
    expect(await fraudDecision(atHalf.id)).toEqual({ approved: true, score: 0, reasons: [] });
    expect((await system.waitSettled(atMax.id)).status).toBe('COMPLETED');
    expect((await system.waitSettled(atHalf.id)).status).toBe('COMPLETED');
    expect((await payment(over.id)).status).toBe('REJECTED');
    const wallet = (await request(system.api.baseUrl, 'GET', `/wallets/${walletId}`)).body;
    expect(wallet.balance).toBe(300_000_000 - 150_000_000);
  });

  it('rejects the 31st payment of a wallet within a minute (FRAUD_VELOCITY_PER_MINUTE 30); the 30th passes', async () => {
    const walletId = await system.newWallet(1000);
    const ids: string[] = [];
    // One after the other: each is created after the one before, all within the minute.
    for (let i = 0; i < 31; i++) ids.push((await system.pay(walletId, 1)).body.id);
    const thirtieth = await fraudDecision(ids[29] as string);
    expect(thirtieth).toEqual({ approved: true, score: 0, reasons: [] });
    await expectRejectedForFraud(ids[30] as string, ['VELOCITY_EXCEEDED']);
    await Promise.all(ids.slice(0, 30).map((id) => system.waitSettled(id, 60_000)));
    const wallet = (await request(system.api.baseUrl, 'GET', `/wallets/${walletId}`)).body;
    expect(wallet.balance).toBe(1000 - 30);
  });

  it('rejects a payment from a blocklisted wallet, owner or to a blocklisted service; the same payment unlisted passes', async () => {
    const blockedWallet = await system.newWallet(1000);
    const clean = await system.newWallet(1000);
    // Unfunded: a fraud rejection comes before the debit (else it would be INSUFFICIENT_FUNDS).
    const mallory = await createTestApiKey(system.database, undefined, 'mallory');
    const blockedOwnerWallet = (
      await request(system.api.baseUrl, 'POST', '/wallets', { body: { currency: 'USD' }, key: mallory })
    ).body.id as string;
    await system.database.db
      .insertInto('fraud_blocklist')
      .values([
        { kind: 'wallet', value: blockedWallet, reason: 'chargebacks' },
        { kind: 'owner', value: 'mallory', reason: 'stolen cards' },
        { kind: 'service', value: 'svc-blocked', reason: 'sanctioned' },
      ])
      .execute();
    const fromBlockedWallet = (await system.pay(blockedWallet, 100)).body;
    const fromBlockedOwner = (
      await request(system.api.baseUrl, 'POST', '/payments', {
        body: { wallet_id: blockedOwnerWallet, service_id: 'svc-test', amount: 100, currency: 'USD' },
        headers: idem('mallory-pays'),
        key: mallory,
      })
    ).body;
    const toBlockedService = (await system.pay(clean, 100, { serviceId: 'svc-blocked' })).body;
    const unlisted = (await system.pay(clean, 100)).body;
    for (const rejected of [fromBlockedWallet, toBlockedService])
      await expectRejectedForFraud(rejected.id, ['BLOCKLISTED']);
    await expectRejectedForFraud(fromBlockedOwner.id, ['BLOCKLISTED'], mallory);
    expect(await fraudDecision(unlisted.id)).toEqual({ approved: true, score: 0, reasons: [] });
    expect(await system.waitSettled(unlisted.id)).toMatchObject({ status: 'COMPLETED' });
  });
});
