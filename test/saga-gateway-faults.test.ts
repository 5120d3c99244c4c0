import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request } from './helpers/http.ts';
import { startSystem, type TestSystem, walletState } from './helpers/system.ts';

let system: TestSystem;
let workerMetrics: string;
beforeAll(async () => {
  system = await startSystem();
  workerMetrics = `http://127.0.0.1:${await system.workers[0]?.listening('metrics')}/metrics`;
});
afterAll(async () => {
  await system?.close();
});
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
  await fetch(`${system.gatewayUrl}/beta/_control/reset`, { method: 'POST' });
});

const types = async (paymentId: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${paymentId}/events`)).body.items.map(
    (e: { event_type: string }) => e.event_type,
  );
const stats = async (provider: string) =>
  (await (await fetch(`${system.gatewayUrl}/${provider}/_control`)).json()).stats;

describe('scenario 2: insufficient funds', () => {
  it('rejects with INSUFFICIENT_FUNDS, never calls the gateway, moves no money', async () => {
    const walletId = await system.newWallet(100);
    const before = { alpha: (await stats('alpha')).charges, beta: (await stats('beta')).charges };
    const res = await system.pay(walletId, 500, { wait: 10 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'REJECTED',
      failure_reason: 'INSUFFICIENT_FUNDS',
      provider: null,
    });
    expect(await types(res.body.id)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'payment.rejected',
    ]);
    expect({ alpha: (await stats('alpha')).charges, beta: (await stats('beta')).charges }).toEqual(before);
    const state = await walletState(system.database, walletId);
    expect(state.balance).toBe(100);
    expect(state.entries.map((e) => e.type)).toEqual(['DEPOSIT']);
  });
});

describe('scenario 3: gateway timeouts and failures', () => {
  it('falls back to beta when alpha is down (503 processed: false), and records the provider', async () => {
    await system.control('alpha', { down: true });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 300, { wait: 15 });
    expect(res.body).toMatchObject({ status: 'COMPLETED', provider: 'beta' });
    const charges = res.body.steps.filter((s: { name: string }) => s.name === 'gateway_charge');
    expect(
      charges.map(
        (s: { status: string; detail: { provider: string } }) => `${s.detail.provider}:${s.status}`,
      ),
    ).toEqual(['alpha:failed', 'beta:requested']);
    expect(await types(res.body.id)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'wallet.debited',
      'payment.charge_failed',
      'payment.charge_requested',
      'payment.charge_succeeded',
      'payment.completed',
    ]);
    expect((await walletState(system.database, walletId)).balance).toBe(700);
    // Metrics come from the transitions in the worker process: each refused request is counted.
    const metrics = await (await fetch(workerMetrics)).text();
    const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? 0);
    expect(value(/^gateway_requests_total\{provider="alpha",outcome="refused"[^}]*\} (\d+)/m)).toBe(2);
    expect(
      value(/^gateway_requests_total\{provider="beta",outcome="success"[^}]*\} (\d+)/m),
    ).toBeGreaterThanOrEqual(1);
    expect(value(/^payment_declined_total\{reason="INSUFFICIENT_FUNDS"[^}]*\} (\d+)/m)).toBe(1);
    // A webhook settles the payment in the API process, so the API counts that completion.
    const api = await (await fetch(`${system.api.baseUrl}/metrics`)).text();
    expect(api).toMatch(/^payment_approved_total(\{[^}]*\})? [1-9]/m);
    expect(api).toMatch(/^payment_duration_seconds_count\{[^}]*status="COMPLETED"[^}]*\} [1-9]/m);
    expect(api).toMatch(/^payment_created_total(\{[^}]*\})? [1-9]/m);
  });

  it('compensates a declined charge: FAILED GATEWAY_DECLINED, balance restored', async () => {
    await system.control('alpha', { decline_rate: 1 });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 600, { wait: 15 });
    expect(res.body).toMatchObject({
      status: 'FAILED',
      failure_reason: 'GATEWAY_DECLINED',
      provider: 'alpha',
    });
    const result = res.body.steps.find((s: { name: string }) => s.name === 'gateway_result');
    expect(result.detail).toMatchObject({
      provider: 'alpha',
      decline_code: 'card_declined',
      source: 'webhook',
    });
    expect((await walletState(system.database, walletId)).balance).toBe(1000);
  });

  it('polls the charge when the webhook never arrives, and completes', async () => {
    await system.control('alpha', { webhook_drop_rate: 1 });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 100, { wait: 20 });
    expect(res.body.status).toBe('COMPLETED');
    const result = res.body.steps.find((s: { name: string }) => s.name === 'gateway_result');
    expect(result.detail).toMatchObject({ provider: 'alpha', source: 'poll' });
    expect(await types(res.body.id)).toContain('payment.charge_succeeded');
  });

  it('applies a webhook delivered twice once', async () => {
    await system.control('alpha', { webhook_duplicate_rate: 1, webhook_delay_ms: 50 });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 100, { wait: 15 });
    expect(res.body.status).toBe('COMPLETED');
    await new Promise((r) => setTimeout(r, 500)); // let the second copy land
    const all = await types(res.body.id);
    expect(all.filter((t: string) => t === 'payment.charge_succeeded')).toHaveLength(1);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from gateway_webhook_events w
        join charge_attempts c on c.gateway_charge_id = w.charge_id where c.payment_id = ${res.body.id}::uuid`.execute(
      system.database.db,
    );
    expect(rows[0]?.n).toBe(1);
    expect((await walletState(system.database, walletId)).balance).toBe(900);
  });
});
