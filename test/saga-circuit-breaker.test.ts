import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from './helpers/http.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

/** Breakers keep state per worker process, so these tests get a system of their own. */
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({ GATEWAY_BREAKER_THRESHOLD: '2', GATEWAY_BREAKER_HALF_OPEN_MS: '60000' });
});
afterAll(async () => {
  await system?.close();
});

const types = async (paymentId: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${paymentId}/events`)).body.items.map(
    (e: { event_type: string }) => e.event_type,
  );

describe('scenario 3: circuit breaker and compensation', () => {
  it('opens the circuit on repeated alpha failures and stops calling alpha', async () => {
    await system.control('alpha', { error_rate: 1 });
    const walletId = await system.newWallet(10_000);
    const settled = [];
    for (let i = 0; i < 4; i++) settled.push((await system.pay(walletId, 100, { wait: 15 })).body);
    expect(settled.every((p) => p.status === 'COMPLETED' && p.provider === 'beta')).toBe(true);
    // GATEWAY_BREAKER_THRESHOLD=2: after two failed calls alpha is skipped without a call.
    const skipped = settled.flatMap((p) => p.steps).filter((s: { status: string }) => s.status === 'skipped');
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped[0].detail).toEqual({ provider: 'alpha', reason: 'circuit_open' });
  });

  it('compensates when every provider fails: wallet refunded, payment FAILED GATEWAY_UNAVAILABLE', async () => {
    await system.control('alpha', { down: true });
    await system.control('beta', { down: true });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 250, { wait: 15 });
    expect(res.body).toMatchObject({ status: 'FAILED', failure_reason: 'GATEWAY_UNAVAILABLE' });
    expect(await types(res.body.id)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'wallet.debited',
      'wallet.debit_reversed',
      'payment.charge_failed',
      'payment.charge_failed',
      'payment.failed',
    ]);
    const state = await walletState(system.database, walletId);
    expect(state.balance).toBe(1000);
    expect(state.entries.map((e) => `${e.type}:${e.amount}`)).toEqual([
      'DEPOSIT:1000',
      'PAYMENT_DEBIT:-250',
      'PAYMENT_REVERSAL:250',
    ]);
    expect(await auditIsClean(system.database)).toBe(true);
  });
});
