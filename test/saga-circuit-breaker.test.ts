import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allCharges, chargesFor, simStats } from './helpers/gateway.ts';
import { request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

/**
 * Breakers keep state per worker process, so each describe gets a system of its own, with a worker
 * whose metrics port the test reads (gateway_circuit_open{provider} is that process's view).
 */
const types = async (system: TestSystem, paymentId: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${paymentId}/events`)).body.items.map(
    (e: { event_type: string }) => e.event_type,
  );
const circuitOpen = async (metricsUrl: string, provider: string) => {
  const text = await (await fetch(metricsUrl)).text();
  return Number(
    new RegExp(`^gateway_circuit_open\\{provider="${provider}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1],
  );
};
const breakerState = async (metricsUrl: string, provider: string) => {
  const text = await (await fetch(metricsUrl)).text();
  const current = new RegExp(
    `^gateway_circuit_state\\{provider="${provider}",state="(\\w+)"[^}]*\\} 1$`,
    'm',
  );
  return current.exec(text)?.[1];
};
const resetGateway = async (system: TestSystem) => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
  await fetch(`${system.gatewayUrl}/beta/_control/reset`, { method: 'POST' });
};

const HALF_OPEN_MS = 5000;

/**
 * Pays 100 again and again until a payment goes to alpha (the half-open trial, once the delay has
 * passed): that payment, and the ones before it.
 */
async function payUntilAlpha(system: TestSystem, walletId: string) {
  const before: Array<{ status: string; provider: string | null }> = [];
  const probe = await waitFor(
    'a payment to go to alpha again',
    async () => {
      const paid = (await system.pay(walletId, 100, { wait: 15 })).body;
      if (paid.provider === 'alpha') return paid;
      before.push(paid);
      return undefined;
    },
    HALF_OPEN_MS + 15_000,
    100,
  );
  return { probe, before };
}

describe('scenario 3: the circuit breaker stops new charges, and closes again', () => {
  let system: TestSystem;
  let metrics: string;
  // A system (and so a worker, whose breakers these are) per test: no test starts with a breaker
  // another one opened, in whatever order they run.
  beforeEach(async () => {
    system = await startSystem(
      // Half-open after 5 s: the three payments that must find the breaker open take well under
      // that even on a loaded machine (at 1.5 s a slow run let a trial call through).
      { GATEWAY_BREAKER_THRESHOLD: '2', GATEWAY_BREAKER_HALF_OPEN_MS: String(HALF_OPEN_MS) },
      { workers: 0 },
    );
    const worker = await system.startWorker();
    metrics = `http://127.0.0.1:${await worker.listening('metrics')}/metrics`;
  });
  afterEach(async () => {
    await system?.close();
  });

  it('opens on repeated alpha refusals and stops calling alpha; beta takes the payments', async () => {
    await resetGateway(system);
    await system.control('alpha', { down: true });
    const walletId = await system.newWallet(10_000);
    // Alpha, down, answers every call with a 503 and counts it among its faults: its calls.
    const alphaCalls = async () => (await simStats(system.gatewayUrl, 'alpha')).faults as number;
    const atStart = await alphaCalls();
    // The breaker opens during this payment, so not before this moment.
    const openedNotBefore = Date.now();
    const first = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect(first).toMatchObject({ status: 'COMPLETED', provider: 'beta' });
    expect(await circuitOpen(metrics, 'alpha')).toBe(1);
    // The first payment did call alpha: both attempts (GATEWAY_MAX_ATTEMPTS), which opened the breaker.
    const afterFirst = await alphaCalls();
    expect(afterFirst - atStart).toBe(2);
    const later = [];
    for (let i = 0; i < 3; i++) later.push((await system.pay(walletId, 100, { wait: 15 })).body);
    expect(later.map((p) => `${p.status}:${p.provider}`)).toEqual(Array(3).fill('COMPLETED:beta'));
    // The open breaker refused alpha before any request. The only calls alpha may see are the
    // half-open trials, one per HALF_OPEN_MS since it opened (none when these three are quick; a
    // loaded machine can make them slower than that).
    const trials = (await alphaCalls()) - afterFirst;
    expect(trials).toBeLessThanOrEqual(Math.floor((Date.now() - openedNotBefore) / HALF_OPEN_MS));
    const skipped = later.flatMap((p) => p.steps).filter((s: { status: string }) => s.status === 'skipped');
    // Each payment without a trial skipped alpha (one with a trial may skip its retry as well).
    expect(skipped.length).toBeGreaterThanOrEqual(3 - trials);
    if (trials === 0) expect(skipped).toHaveLength(3);
    for (const s of skipped) expect(s.detail).toEqual({ provider: 'alpha', error: 'circuit open' });
    expect((await walletState(system.database, walletId)).balance).toBe(10_000 - 4 * 100);
  });

  it('compensates when every provider refuses: wallet refunded, payment FAILED GATEWAY_UNAVAILABLE', async () => {
    await resetGateway(system);
    await system.control('alpha', { down: true });
    await system.control('beta', { down: true });
    const walletId = await system.newWallet(1000);
    const res = await system.pay(walletId, 250, { wait: 15 });
    expect(res.body).toMatchObject({
      status: 'FAILED',
      failure_reason: 'GATEWAY_UNAVAILABLE',
      provider: null,
    });
    expect(await types(system, res.body.id)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'wallet.debited',
      'payment.wallet_debited',
      'payment.charge_failed',
      'wallet.debit_reversed',
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

  it('alpha down opens its breaker; alpha back: after the half-open delay one trial charge goes to alpha, succeeds and closes it; payments go to alpha again', async () => {
    await resetGateway(system);
    await system.control('alpha', { down: true });
    const walletId = await system.newWallet(10_000);
    const atStart = await simStats(system.gatewayUrl, 'alpha');
    const outageFrom = Date.now();
    const first = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect(first).toMatchObject({ status: 'COMPLETED', provider: 'beta' });
    expect(await breakerState(metrics, 'alpha')).toBe('open');
    const atOpen = await simStats(system.gatewayUrl, 'alpha');
    // GATEWAY_BREAKER_THRESHOLD (2) refused requests opened it; nothing was charged.
    expect([atOpen.faults - atStart.faults, atOpen.charges - atStart.charges]).toEqual([2, 0]);

    await system.control('alpha', { down: false });
    const { probe, before } = await payUntilAlpha(system, walletId);
    // Alpha was back, yet until the half-open delay the breaker sent nothing to it.
    expect(Date.now() - outageFrom).toBeGreaterThanOrEqual(HALF_OPEN_MS);
    expect(before.length).toBeGreaterThan(0);
    expect(before.map((p) => `${p.status}:${p.provider}`)).toEqual(before.map(() => 'COMPLETED:beta'));
    expect(probe).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    const atProbe = await simStats(system.gatewayUrl, 'alpha');
    expect([atProbe.faults - atOpen.faults, atProbe.charges - atOpen.charges]).toEqual([0, 1]);
    expect(await breakerState(metrics, 'alpha')).toBe('closed');

    const next = (await system.pay(walletId, 100, { wait: 15 })).body;
    expect(next).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect((await simStats(system.gatewayUrl, 'alpha')).charges - atProbe.charges).toBe(1);
    expect((await walletState(system.database, walletId)).balance).toBe(10_000 - 100 * (before.length + 3));
  }, 60_000);

  it('both breakers open during an outage of both providers; after the cool-down, payments complete at alpha again', async () => {
    await resetGateway(system);
    await system.control('alpha', { down: true });
    await system.control('beta', { down: true });
    const walletId = await system.newWallet(10_000);
    await waitFor(
      'both breakers to open',
      async () => {
        const res = await system.pay(walletId, 100, { wait: 15 });
        expect(res.body).toMatchObject({ status: 'FAILED', failure_reason: 'GATEWAY_UNAVAILABLE' });
        return (
          (await breakerState(metrics, 'alpha')) === 'open' &&
          (await breakerState(metrics, 'beta')) === 'open'
        );
      },
      20_000,
      0,
    );
    const openedBy = Date.now();
    await resetGateway(system); // the outage ends
    const { probe, before } = await payUntilAlpha(system, walletId);
    expect(probe).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect(Date.now() - openedBy).toBeLessThan(HALF_OPEN_MS + 5000);
    expect(before.map((p) => p.status)).toEqual(before.map(() => 'FAILED'));
    expect(await breakerState(metrics, 'alpha')).toBe('closed');
    const next = await system.pay(walletId, 100, { wait: 15 });
    expect(next.body).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
  }, 60_000);
});

describe('an accepted charge whose record was lost is found again, even behind an open breaker', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({
      GATEWAY_BREAKER_THRESHOLD: '2',
      GATEWAY_BREAKER_HALF_OPEN_MS: '60000',
      GATEWAY_ATTEMPT_TIMEOUT_MS: '3000',
    });
  });
  afterAll(async () => {
    await system?.close();
  });

  it('alpha accepts, the worker dies before committing it, the retry runs where alpha is "open": one charge, at alpha', async () => {
    await resetGateway(system);
    // alpha makes the charge at once and answers 1.5 s later (under the 3 s timeout); no webhook.
    await system.control('alpha', { latency_ms: 1500, webhook_drop_rate: 1 });
    const walletId = await system.newWallet(10_000);
    const id = (await system.pay(walletId, 1230)).body.id;
    const [doomed] = system.workers;
    // _control is never delayed: it shows the charge while its answer is still held back.
    await waitFor(
      'alpha to have the charge',
      async () => (await allCharges(system.gatewayUrl, 'alpha')).some((c) => c.reference === id),
      10_000,
      10,
    );
    await doomed?.kill('SIGKILL'); // the answer is still in flight: its record never commits

    // Another worker, whose alpha breaker opens on an alpha outage (two refusals).
    await system.control('alpha', { down: true, latency_ms: 0 });
    const port = await (await system.startWorker()).listening('metrics');
    const other = await system.pay(walletId, 100, { wait: 15 });
    expect(other.body).toMatchObject({ status: 'COMPLETED', provider: 'beta' });
    expect(await circuitOpen(`http://127.0.0.1:${port}/metrics`, 'alpha')).toBe(1);
    await system.control('alpha', { down: false });

    // The dead worker's job is unlocked (WORKER_DEAD_AFTER_SECONDS) and retried by the new worker:
    // the attempt may have charged, so it asks alpha again with the same key, breaker or not.
    const settled = await system.waitSettled(id, 30_000);
    expect(settled).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect(await circuitOpen(`http://127.0.0.1:${port}/metrics`, 'alpha')).toBe(1);
    expect((await chargesFor(system.gatewayUrl, 'alpha', id)).map((c) => `${c.status}:${c.amount}`)).toEqual([
      'succeeded:1230',
    ]);
    expect(await chargesFor(system.gatewayUrl, 'beta', id)).toEqual([]);
    // The path taken: the attempt committed before the call, a second call with the same key that
    // alpha answered. A retry that ran while alpha was still down was refused (proven not
    // processed) and is not one of the two: the count of calls that may have been processed is 2.
    const { rows } = await sql<{ provider: string; processed: number; settled_by: string }>`
      select provider, calls - refused_calls as processed, settled_by
        from charge_attempts where payment_id = ${id}::uuid`.execute(system.database.db);
    expect(rows).toEqual([{ provider: 'alpha', processed: 2, settled_by: 'answer' }]);
    expect((await walletState(system.database, walletId)).balance).toBe(10_000 - 1230 - 100);
    expect(await auditIsClean(system.database)).toBe(true);
  });
});
