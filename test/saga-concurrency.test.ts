import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { idem, request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem({ DB_POOL_MAX: '30' }, { workers: 2 });
});
afterAll(async () => {
  await system?.close();
});
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
});

describe('scenario 4: concurrent payments on one wallet', () => {
  it('800 and 600 against 1000 at the same instant: exactly one succeeds', async () => {
    const walletId = await system.newWallet(1000);
    const [a, b] = await Promise.all([
      system.pay(walletId, 800, { wait: 20 }),
      system.pay(walletId, 600, { wait: 20 }),
    ]);
    const outcomes = [a.body, b.body].map((p) => `${p.status}:${p.failure_reason}`).sort();
    expect(outcomes).toEqual(['COMPLETED:null', 'REJECTED:INSUFFICIENT_FUNDS']);
    const state = await walletState(system.database, walletId);
    const completed = [a.body, b.body].find((p) => p.status === 'COMPLETED');
    expect(state.balance).toBe(1000 - completed.amount);
    expect(state.ledgerSum).toBe(state.balance);
  });

  it('40 parallel payments of 100 on 1500: 15 complete, 25 rejected, balance 0 = ledger', async () => {
    const walletId = await system.newWallet(1500);
    const accepted = await Promise.all(Array.from({ length: 40 }, () => system.pay(walletId, 100)));
    expect(accepted.map((r) => r.status)).toEqual(accepted.map(() => 202));
    const settled = await Promise.all(accepted.map((r) => system.waitSettled(r.body.id, 60_000)));
    const completed = settled.filter((p) => p.status === 'COMPLETED');
    const rejected = settled.filter((p) => p.status === 'REJECTED');
    expect(completed).toHaveLength(15);
    expect(rejected).toHaveLength(25);
    expect(rejected.every((p) => p.failure_reason === 'INSUFFICIENT_FUNDS')).toBe(true);
    const state = await walletState(system.database, walletId);
    expect(state.balance).toBe(0);
    expect(state.ledgerSum).toBe(0);
    expect(state.entries.every((e) => e.balance_after >= 0)).toBe(true);
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('20 concurrent POSTs with one idempotency key make exactly one payment', async () => {
    const walletId = await system.newWallet(1000);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(system.api.baseUrl, 'POST', '/payments', {
          body: { wallet_id: walletId, service_id: 'svc', amount: 100, currency: 'USD' },
          headers: idem(`same-key-${walletId}`),
        }),
      ),
    );
    expect(responses.every((r) => r.status === 202 || r.status === 409)).toBe(true);
    const ids = new Set(responses.filter((r) => r.status === 202).map((r) => r.body.id));
    expect(ids.size).toBe(1);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from payments where wallet_id = ${walletId}::uuid`.execute(
      system.database.db,
    );
    expect(rows[0]?.n).toBe(1);
    const [id] = [...ids];
    await system.waitSettled(id as string);
    expect((await walletState(system.database, walletId)).balance).toBe(900);
  });

  it('runs each saga step once when its job is delivered again while the payment is mid-saga', async () => {
    // The charge stays pending at alpha for a few seconds (its webhook is late): the payment waits at
    // charge_requested, with its debit made and its charge asked for, while the duplicates arrive.
    await system.control('alpha', { webhook_delay_ms: 6000 });
    const walletId = await system.newWallet(1000);
    const paymentId = (await system.pay(walletId, 300)).body.id as string;
    await waitFor('the payment to wait at charge_requested', async () => {
      const row = await system.database.db
        .selectFrom('payments')
        .select('saga_step')
        .where('id', '=', paymentId)
        .executeTakeFirst();
      return row?.saga_step === 'charge_requested';
    });
    // Every step delivered again (no job key: extra deliveries), as an at-least-once queue may do.
    const duplicates: string[] = [];
    for (const task of [
      'payment__fraud_check',
      'payment__debit_wallet',
      'payment__charge_gateway',
      'payment__poll_charge',
    ]) {
      const { rows } = await sql<{ id: string }>`
        select id from graphile_worker.add_job(${task}, json_build_object('paymentId', ${paymentId}::text))`.execute(
        system.database.db,
      );
      duplicates.push(rows[0]?.id as string);
    }
    const duplicatesRan = await waitFor('the duplicate jobs to run', async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from graphile_worker.jobs where id = any(${duplicates}::bigint[])`.execute(
        system.database.db,
      );
      return rows[0]?.n === 0;
    });
    expect(duplicatesRan).toBe(true);
    // Still mid-saga when they had all run: the webhook (6 s) had not come yet.
    const { saga_step } = await system.database.db
      .selectFrom('payments')
      .select('saga_step')
      .where('id', '=', paymentId)
      .executeTakeFirstOrThrow();
    expect(saga_step).toBe('charge_requested');

    const settled = await system.waitSettled(paymentId);
    expect(settled.status).toBe('COMPLETED');
    const events = (await request(system.api.baseUrl, 'GET', `/payments/${paymentId}/events`)).body.items.map(
      (e: { event_type: string }) => e.event_type,
    );
    expect(events).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'wallet.debited',
      'payment.wallet_debited',
      'payment.charge_requested',
      'payment.charge_succeeded',
      'payment.completed',
    ]);
    const state = await walletState(system.database, walletId);
    expect(state.entries.map((e) => e.type)).toEqual(['DEPOSIT', 'PAYMENT_DEBIT']);
    expect(state.balance).toBe(700);
    // One charge at the gateway: the duplicate charge step asked nothing new.
    const charges = await (await fetch(`${system.gatewayUrl}/alpha/charges?reference=${paymentId}`)).json();
    expect(charges.items).toHaveLength(1);
  });
});
