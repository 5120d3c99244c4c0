import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from './helpers/http.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem();
});
afterAll(async () => {
  await system?.close();
});

describe('scenario 1: the happy path', () => {
  it('completes a payment: one debit, events in causal order in the event store and the outbox', async () => {
    // The happy path's order: the charge's answer is recorded, then its webhook settles it. With
    // the simulator's 20 ms default the webhook can win on a loaded machine (then the late answer
    // is not recorded: another order); a second's delay keeps this test about the ordinary one.
    await system.control('alpha', { webhook_delay_ms: 1000 });
    const walletId = await system.newWallet(5000);
    const res = await system.pay(walletId, 1230, { wait: 15 });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=15');
    expect(res.body).toMatchObject({
      status: 'COMPLETED',
      provider: 'alpha',
      failure_reason: null,
      amount: 1230,
      refunded_amount: 0,
    });
    expect(res.body.completed_at).not.toBeNull();
    expect(res.body.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'request:accepted',
      'fraud_check:approved',
      'wallet_debit:succeeded',
      'gateway_charge:requested',
      'gateway_result:succeeded',
    ]);

    const { balance, ledgerSum, entries } = await walletState(system.database, walletId);
    expect(balance).toBe(5000 - 1230);
    expect(ledgerSum).toBe(balance);
    expect(entries.filter((e) => e.type === 'PAYMENT_DEBIT').map((e) => e.amount)).toEqual([-1230]);

    const events = await request(system.api.baseUrl, 'GET', `/payments/${res.body.id}/events`);
    const types = events.body.items.map((e: { event_type: string }) => e.event_type);
    expect(types).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'wallet.debited',
      'payment.wallet_debited',
      'payment.charge_requested',
      'payment.charge_succeeded',
      'payment.completed',
    ]);
    const paymentEvents = events.body.items.filter(
      (e: { aggregate_type: string }) => e.aggregate_type === 'payment',
    );
    expect(paymentEvents.map((e: { version: number }) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const e of events.body.items) expect(e.trace_id).toBe(events.body.items[0].trace_id);

    // Every event has its outbox row, in the same (commit) order, on the right topic.
    const outbox = await system.database.db
      .selectFrom('outbox')
      .select(['event_id', 'topic', 'event_type'])
      .where(
        'event_id',
        'in',
        events.body.items.map((e: { event_id: string }) => e.event_id),
      )
      .orderBy('id')
      .execute();
    expect(outbox.map((o) => o.event_type)).toEqual(types);
    expect(outbox.map((o) => o.topic)).toEqual(
      types.map((t: string) => (t.startsWith('wallet.') ? 'wallets.events' : 'payments.events')),
    );
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('answers 202 at once without Prefer: wait, and the payment completes in the background', async () => {
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 400);
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('PENDING');
    const settled = await system.waitSettled(res.body.id);
    expect(settled.status).toBe('COMPLETED');
  });

  it('lists payments by wallet and status with a cursor', async () => {
    const walletId = await system.newWallet(1000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await system.pay(walletId, 100, { wait: 10 })).body.id);
    const first = await request(
      system.api.baseUrl,
      'GET',
      `/payments?wallet_id=${walletId}&status=COMPLETED&limit=2`,
    );
    expect(first.status).toBe(200);
    expect(first.body.items.map((p: { id: string }) => p.id)).toEqual([ids[2], ids[1]]);
    const second = await request(
      system.api.baseUrl,
      'GET',
      `/payments?wallet_id=${walletId}&status=COMPLETED&limit=2&cursor=${first.body.next_cursor}`,
    );
    expect(second.body.items.map((p: { id: string }) => p.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });
});
