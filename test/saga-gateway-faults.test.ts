import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
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
/**
 * Prometheus counters of a process, by series (name and labels): tests compare two readings, since
 * the worker and API processes (and their counters) live for the whole file.
 */
async function counters(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m) series.set(m[1] as string, Number(m[2]));
  }
  return series;
}
/** How much each series matching `pattern` grew between two readings, summed. */
const grew = (before: Map<string, number>, after: Map<string, number>, pattern: RegExp) =>
  [...after].filter(([k]) => pattern.test(k)).reduce((sum, [k, v]) => sum + v - (before.get(k) ?? 0), 0);

describe('scenario 2: insufficient funds', () => {
  it('rejects with INSUFFICIENT_FUNDS, never calls the gateway, moves no money', async () => {
    const walletId = await system.newWallet(100);
    const before = { alpha: (await stats('alpha')).charges, beta: (await stats('beta')).charges };
    const workerBefore = await counters(workerMetrics);
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
    // The worker counts the decline.
    expect(
      grew(
        workerBefore,
        await counters(workerMetrics),
        /^payment_declined_total\{reason="INSUFFICIENT_FUNDS"/,
      ),
    ).toBe(1);
  });
});

describe('scenario 3: gateway timeouts and failures', () => {
  it('falls back to beta when alpha is down (503 processed: false), and records the provider', async () => {
    await system.control('alpha', { down: true });
    const walletId = await system.newWallet(1000);
    const workerBefore = await counters(workerMetrics);
    const apiBefore = await counters(`${system.api.baseUrl}/metrics`);
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
      'payment.wallet_debited',
      'payment.charge_failed',
      'payment.charge_requested',
      'payment.charge_succeeded',
      'payment.completed',
    ]);
    expect((await walletState(system.database, walletId)).balance).toBe(700);
    // Metrics come from the transitions in the worker process: each refused request is counted.
    // (Differences: the processes' counters hold every earlier test's requests too.)
    const worker = await counters(workerMetrics);
    // Two attempts at alpha (GATEWAY_MAX_ATTEMPTS), each refused, then one call at beta.
    expect(grew(workerBefore, worker, /^gateway_requests_total\{provider="alpha",outcome="refused"/)).toBe(2);
    expect(grew(workerBefore, worker, /^gateway_requests_total\{provider="beta",outcome="success"/)).toBe(1);
    // A webhook settles the payment in the API process, so the API counts that completion.
    const api = await counters(`${system.api.baseUrl}/metrics`);
    expect(grew(apiBefore, api, /^payment_approved_total/)).toBe(1);
    expect(grew(apiBefore, api, /^payment_duration_seconds_count\{[^}]*status="COMPLETED"/)).toBe(1);
    expect(grew(apiBefore, api, /^payment_created_total/)).toBe(1);
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
    const sentBefore = (await stats('alpha')).webhooks_sent;
    const res = await system.pay(walletId, 100, { wait: 15 });
    expect(res.body.status).toBe('COMPLETED');
    // Both copies delivered and answered 2xx (the simulator counts only accepted deliveries).
    await waitFor('both copies of the webhook to be delivered', async () => {
      const sent = (await stats('alpha')).webhooks_sent - sentBefore;
      return sent >= 2 ? sent : undefined;
    });
    expect((await stats('alpha')).webhooks_sent - sentBefore).toBe(2);
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
