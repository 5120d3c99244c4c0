import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chargesFor, keptAtGateway, sendWebhook, simStats } from './helpers/gateway.ts';
import { idem, request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { auditIsClean, startSystem, type TestSystem, walletState } from './helpers/system.ts';

/**
 * The gateway boundary, path by path, with real processes: an answer that never came is unknown,
 * never "no"; a pending charge is canceled before the wallet is refunded; stray money goes back;
 * answers are checked; refunds can fail. The attempt timeout is 400 ms (FAST_ENV), so a gateway
 * latency of 800 ms is an answer that arrives after the caller gave up.
 */
let system: TestSystem;
const ALPHA_SECRET = 'alpha-dev-webhook-secret';
beforeAll(async () => {
  // Breakers have tests of their own (saga-circuit-breaker.test.ts): here they never open.
  system = await startSystem({ CHARGE_POLL_MAX: '1', GATEWAY_BREAKER_THRESHOLD: '1000' });
});
afterAll(async () => {
  await system?.close();
});
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
  await fetch(`${system.gatewayUrl}/beta/_control/reset`, { method: 'POST' });
});

const payment = async (id: string) => (await request(system.api.baseUrl, 'GET', `/payments/${id}`)).body;
const events = async (id: string) =>
  (await request(system.api.baseUrl, 'GET', `/payments/${id}/events`)).body.items as Array<{
    event_type: string;
    data: Record<string, unknown>;
  }>;
const untilStep = (id: string, name: string, status: string, timeoutMs = 15_000) =>
  waitFor(
    `payment ${id} step ${name}:${status}`,
    async () =>
      ((await payment(id)).steps as Array<{ name: string; status: string }>).some(
        (s) => s.name === name && s.status === status,
      ),
    timeoutMs,
    100,
  );

describe('an answer that never came is unknown, never "no"', () => {
  it('alpha answers after the timeout: the payment completes at alpha, with one charge across providers', async () => {
    await system.control('alpha', { latency_ms: 800 });
    const walletId = await system.newWallet(5000);
    const res = await system.pay(walletId, 1230, { wait: 20 });
    expect(res.body).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    const gateway = await keptAtGateway(system.gatewayUrl, res.body.id);
    expect(gateway.charges.map((c) => c.status)).toEqual(['succeeded']);
    expect(await chargesFor(system.gatewayUrl, 'beta', res.body.id)).toEqual([]);
    expect(gateway.kept).toBe(1230);
    expect((await walletState(system.database, walletId)).balance).toBe(5000 - 1230);
    const types = (await events(res.body.id)).map((e) => e.event_type);
    expect(types.filter((t) => t.startsWith('payment.charge'))).toEqual([
      'payment.charge_requested',
      'payment.charge_succeeded',
    ]);
    expect(
      (await events(res.body.id)).find((e) => e.event_type === 'payment.charge_requested')?.data,
    ).toMatchObject({
      provider: 'alpha',
    });
  });

  it('alpha unknown and beta down: waits for alpha instead of trying beta, then completes at alpha', async () => {
    await system.control('alpha', { latency_ms: 800, webhook_drop_rate: 1 });
    await system.control('beta', { down: true });
    const betaBefore = await simStats(system.gatewayUrl, 'beta');
    const walletId = await system.newWallet(5000);
    const res = await system.pay(walletId, 700);
    const id = res.body.id;
    await untilStep(id, 'gateway_charge', 'outcome_unknown');
    // Two more rounds of questions (same key), and still waiting: beta never asked.
    await waitFor(
      'three calls with the same key',
      async () => {
        const { rows } = await sql<{ calls: number }>`
          select calls from charge_attempts where payment_id = ${id}::uuid`.execute(system.database.db);
        return (rows[0]?.calls ?? 0) >= 3;
      },
      20_000,
      200,
    );
    expect((await payment(id)).status).toBe('PROCESSING');
    expect(await simStats(system.gatewayUrl, 'beta')).toEqual(betaBefore);
    const { rows } = await sql<{ status: string; calls: number }>`
      select status, calls from charge_attempts where payment_id = ${id}::uuid`.execute(system.database.db);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.status).toBe('unknown');

    await system.control('alpha', { latency_ms: 0 }); // alpha answers again (webhooks still lost)
    await system.control('beta', { down: false });
    const settled = await system.waitSettled(id, 20_000);
    expect(settled).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    const gateway = await keptAtGateway(system.gatewayUrl, id);
    expect(gateway.charges.map((c) => `${c.status}:${c.amount}`)).toEqual(['succeeded:700']);
    expect(await simStats(system.gatewayUrl, 'beta')).toEqual(betaBefore);
    expect((await walletState(system.database, walletId)).balance).toBe(4300);
  });

  it('a dead-letter replay and the sweeper land on the charge step key: one charge in total', async () => {
    await system.control('alpha', { latency_ms: 800, webhook_drop_rate: 1 });
    const walletId = await system.newWallet(5000);
    const id = (await system.pay(walletId, 450)).body.id;
    await untilStep(id, 'gateway_charge', 'outcome_unknown');
    const db = system.database.db;
    const { rows: letter } = await sql<{ id: number }>`
      insert into dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
      values (-1, 'payment__charge_gateway', ${JSON.stringify({ paymentId: id })}::jsonb, 3, 'test', ${id}::uuid, now())
      returning id`.execute(db);
    const { rows: replayed } = await sql<{ job_id: string }>`
      select dead_letter__replay(${letter[0]?.id}::bigint)::text as job_id`.execute(db);
    // The replayed job carries the step's key (it runs for at least one 400 ms call: still there).
    const { rows: replayJob } = await sql<{ key: string | null }>`
      select key from graphile_worker.jobs where id = ${replayed[0]?.job_id}::bigint`.execute(db);
    expect(replayJob).toEqual([{ key: `payment__charge_gateway:${id}` }]);
    await sql`select payment__redrive_stuck(interval '0 seconds')`.execute(db);
    // Even a copy without the key (what an old replay enqueued) cannot make a second charge.
    await sql`select graphile_worker.add_job('payment__charge_gateway', ${JSON.stringify({ paymentId: id })}::json)`.execute(
      db,
    );
    await system.control('alpha', { latency_ms: 0 });
    expect(await system.waitSettled(id, 20_000)).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect((await keptAtGateway(system.gatewayUrl, id)).charges).toHaveLength(1);
    expect(await chargesFor(system.gatewayUrl, 'beta', id)).toEqual([]);
  });
});

describe('the deadline: cancel before the wallet is refunded', () => {
  it('after CHARGE_POLL_MAX "pending" polls the charge is canceled at the gateway, then the debit is reversed once (FAILED GATEWAY_UNAVAILABLE)', async () => {
    await system.control('alpha', { webhook_delay_ms: 120_000 });
    const walletId = await system.newWallet(2000);
    const id = (await system.pay(walletId, 800)).body.id;
    const settled = await system.waitSettled(id, 20_000);
    expect(settled).toMatchObject({
      status: 'FAILED',
      failure_reason: 'GATEWAY_UNAVAILABLE',
      provider: 'alpha',
    });
    expect((await chargesFor(system.gatewayUrl, 'alpha', id)).map((c) => c.status)).toEqual(['canceled']);
    expect(await chargesFor(system.gatewayUrl, 'beta', id)).toEqual([]);
    const failed = (await events(id)).find((e) => e.event_type === 'payment.charge_failed');
    expect(failed?.data).toMatchObject({ provider: 'alpha', outcome: 'canceled' });
    // Money back exactly once: one debit, one reversal.
    const wallet = await walletState(system.database, walletId);
    expect(wallet.balance).toBe(2000);
    expect(wallet.entries.map((e) => `${e.type}:${e.amount}`)).toEqual([
      'DEPOSIT:2000',
      'PAYMENT_DEBIT:-800',
      'PAYMENT_REVERSAL:800',
    ]);
    // Each aggregate's events in order (the reversal and the failure commit in one transaction).
    const story = await events(id);
    expect(story.filter((e) => e.event_type.startsWith('payment.')).map((e) => e.event_type)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'payment.wallet_debited',
      'payment.charge_requested',
      'payment.charge_failed',
      'payment.failed',
    ]);
    expect(story.filter((e) => e.event_type.startsWith('wallet.')).map((e) => e.event_type)).toEqual([
      'wallet.debited',
      'wallet.debit_reversed',
    ]);
    expect(story.find((e) => e.event_type === 'payment.failed')?.data).toEqual({
      reason: 'GATEWAY_UNAVAILABLE',
      refunded_to_wallet: 800,
    });
    // CHARGE_POLL_MAX (1 here) "pending" answers, then the cancel, then the compensation.
    const gatewaySteps = (settled.steps as Array<{ name: string; status: string }>)
      .map((s) => `${s.name}:${s.status}`)
      .filter((s) => /^(status_poll|cancel|compensation):/.test(s));
    expect(gatewaySteps).toEqual(['status_poll:pending', 'cancel:canceled', 'compensation:succeeded']);
    expect(await auditIsClean(system.database)).toBe(true);
  });

  it('a charge that succeeds before the cancel: the 409 completes the payment', async () => {
    // Pending at the first poll (2 s), succeeded at 4 s with its webhook lost, canceled at ~6 s.
    await system.control('alpha', { webhook_delay_ms: 4000, webhook_drop_rate: 1 });
    const walletId = await system.newWallet(2000);
    const id = (await system.pay(walletId, 900)).body.id;
    const settled = await system.waitSettled(id, 20_000);
    expect(settled).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect(
      (settled.steps as Array<{ name: string; status: string }>).map((s) => `${s.name}:${s.status}`),
    ).toEqual(expect.arrayContaining(['status_poll:pending', 'cancel:succeeded']));
    const succeeded = (await events(id)).find((e) => e.event_type === 'payment.charge_succeeded');
    expect(succeeded?.data).toMatchObject({ provider: 'alpha', source: 'cancel' });
    expect((await keptAtGateway(system.gatewayUrl, id)).kept).toBe(900);
    expect((await walletState(system.database, walletId)).balance).toBe(1100);
  });
});

describe('stray money goes back', () => {
  it('a success for a FAILED payment, from a charge we never asked for, is refunded at the gateway', async () => {
    await system.control('alpha', { decline_rate: 1 });
    const walletId = await system.newWallet(2000);
    const failed = await system.pay(walletId, 640, { wait: 15 });
    expect(failed.body).toMatchObject({ status: 'FAILED', failure_reason: 'GATEWAY_DECLINED' });
    await system.control('alpha', { decline_rate: 0 });
    // Someone else charges alpha with this payment as the reference; its webhook reaches us.
    const rogue = await request(system.gatewayUrl, 'POST', '/alpha/charges', {
      body: {
        amount: 640,
        currency: 'USD',
        reference: failed.body.id,
        callback_url: `${system.api.baseUrl}/webhooks/gateway/alpha`,
      },
      headers: idem(`rogue-${failed.body.id}`),
    });
    expect(rogue.status).toBe(202);
    await waitFor(
      'the stray charge to be refunded',
      async () =>
        (await keptAtGateway(system.gatewayUrl, failed.body.id)).kept === 0 &&
        (await events(failed.body.id)).some((e) => e.event_type === 'payment.stray_charge_refunded'),
      20_000,
      200,
    );
    const types = (await events(failed.body.id)).map((e) => e.event_type);
    expect(types.slice(-2)).toEqual(['payment.stray_charge_detected', 'payment.stray_charge_refunded']);
    expect((await payment(failed.body.id)).status).toBe('FAILED');
    expect((await walletState(system.database, walletId)).balance).toBe(2000);
    expect(await auditIsClean(system.database)).toBe(true);
  });
});

describe('a success after a confirmed cancel', () => {
  it('is stray money; when the gateway refuses its refund for good, it is dead-lettered at once', async () => {
    await system.control('alpha', { webhook_delay_ms: 120_000 });
    const walletId = await system.newWallet(2000);
    const id = (await system.pay(walletId, 560)).body.id;
    expect(await system.waitSettled(id, 20_000)).toMatchObject({ status: 'FAILED', provider: 'alpha' });
    const [charge] = await chargesFor(system.gatewayUrl, 'alpha', id);
    expect(charge?.status).toBe('canceled');
    // The gateway says, signed, that the canceled charge succeeded after all.
    const late = await sendWebhook(system.api.baseUrl, 'alpha', ALPHA_SECRET, {
      event_id: `evt-late-${id}`,
      type: 'charge.succeeded',
      charge: { id: charge?.id, reference: id, amount: 560, currency: 'USD', status: 'succeeded' },
    });
    expect(late).toMatchObject({ status: 200, body: { status: 'applied' } });
    const detected = (await events(id)).find((e) => e.event_type === 'payment.stray_charge_detected');
    expect(detected?.data).toMatchObject({ provider: 'alpha', charge_id: charge?.id, source: 'webhook' });
    // Its refund is refused (409: the simulator holds the charge canceled): an operator's case.
    const letter = await waitFor(
      'the stray refund in the dead letters',
      async () =>
        (
          await sql<{ task: string; attempts: number; last_error: string }>`
            select task, attempts, last_error from dead_letter_jobs where payment_id = ${id}::uuid`.execute(
            system.database.db,
          )
        ).rows[0],
      15_000,
      200,
    );
    expect(letter).toMatchObject({ task: 'payment__refund_stray_charge', attempts: 1 });
    expect(letter.last_error).toMatch(/PermanentJobError.*409/);
    expect((await payment(id)).status).toBe('FAILED');
    expect((await walletState(system.database, walletId)).balance).toBe(2000);
  });
});

describe('answers are checked against the payment', () => {
  it('a signed webhook with another amount is refused (422) and completes nothing', async () => {
    await system.control('alpha', { webhook_delay_ms: 120_000 });
    const walletId = await system.newWallet(2000);
    const id = (await system.pay(walletId, 500)).body.id;
    await waitFor(
      'the charge to be pending',
      async () => (await payment(id)).provider === 'alpha',
      10_000,
      50,
    );
    const [charge] = await chargesFor(system.gatewayUrl, 'alpha', id);
    const forged = await sendWebhook(system.api.baseUrl, 'alpha', ALPHA_SECRET, {
      event_id: `evt-forged-${id}`,
      type: 'charge.succeeded',
      charge: { id: charge?.id, reference: id, amount: 50_000, currency: 'USD', status: 'succeeded' },
    });
    expect(forged.status).toBe(422);
    expect(forged.body.code).toBe('GATEWAY_ANSWER_MISMATCH');
    const after = await payment(id);
    expect(after.status).toBe('PROCESSING');
    expect(
      after.steps.some(
        (s: { name: string; status: string }) => s.name === 'gateway_answer' && s.status === 'mismatch',
      ),
    ).toBe(true);
    expect((await events(id)).map((e) => e.event_type)).not.toContain('payment.charge_succeeded');
    const metrics = await (await fetch(`${system.api.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_answer_mismatch_total\{provider="alpha",source="webhook"\} 1$/m);
    await request(system.gatewayUrl, 'POST', `/alpha/charges/${charge?.id}/cancel`);
  });
});

describe('refunds can fail', () => {
  const completedPayment = async (amount: number) => {
    const walletId = await system.newWallet(3000);
    const res = await system.pay(walletId, amount, { wait: 15 });
    expect(res.body.status).toBe('COMPLETED');
    return { walletId, id: res.body.id as string };
  };
  const waitRefund = (paymentId: string, refundId: string, timeoutMs = 30_000) =>
    waitFor(
      `refund ${refundId} to settle`,
      async () => {
        const refund = (await payment(paymentId)).refunds.find((r: { id: string }) => r.id === refundId);
        return refund && refund.status !== 'PENDING' ? refund : undefined;
      },
      timeoutMs,
      200,
    );

  it('a refund the gateway refuses ends FAILED and releases its amount for another refund', async () => {
    const { walletId, id } = await completedPayment(1000);
    await system.control('alpha', { refund_decline_rate: 1 });
    const first = await request(system.api.baseUrl, 'POST', `/payments/${id}/refunds`, {
      body: {},
      headers: idem(`refund-refused-${id}`),
    });
    expect(first.status).toBe(202);
    const failed = await waitRefund(id, first.body.id);
    expect(failed).toMatchObject({ status: 'FAILED', amount: 1000 });
    expect(failed.failure_reason).toMatch(/^refused by alpha/);
    expect(await payment(id)).toMatchObject({ status: 'COMPLETED', refunded_amount: 0 });
    expect((await events(id)).map((e) => e.event_type)).toContain('payment.refund_failed');
    expect((await walletState(system.database, walletId)).balance).toBe(2000);

    await system.control('alpha', { refund_decline_rate: 0 });
    const second = await request(system.api.baseUrl, 'POST', `/payments/${id}/refunds`, {
      body: {},
      headers: idem(`refund-again-${id}`),
    });
    expect(second.status).toBe(202);
    expect(second.body.amount).toBe(1000);
    expect(await waitRefund(id, second.body.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await payment(id)).toMatchObject({ status: 'REFUNDED', refunded_amount: 1000 });
    expect((await walletState(system.database, walletId)).balance).toBe(3000);
    expect((await keptAtGateway(system.gatewayUrl, id)).kept).toBe(0);
  });

  it('a refund that cannot reach the gateway past its retries ends FAILED, and nothing was refunded', async () => {
    const { walletId, id } = await completedPayment(600);
    await system.control('alpha', { down: true });
    const refund = await request(system.api.baseUrl, 'POST', `/payments/${id}/refunds`, {
      body: { amount: 250 },
      headers: idem(`refund-unreachable-${id}`),
    });
    expect(refund.status).toBe(202);
    const failed = await waitRefund(id, refund.body.id, 40_000);
    expect(failed).toMatchObject({ status: 'FAILED', amount: 250 });
    expect(failed.failure_reason).toMatch(/^unreachable by alpha/);
    await system.control('alpha', { down: false });
    expect((await keptAtGateway(system.gatewayUrl, id)).kept).toBe(600);
    expect(await payment(id)).toMatchObject({ status: 'COMPLETED', refunded_amount: 0 });
    expect((await walletState(system.database, walletId)).balance).toBe(2400);
    const { rows } = await sql<{ reserved: number }>`
      select refund_reserved::int as reserved from payments where id = ${id}::uuid`.execute(
      system.database.db,
    );
    expect(rows[0]?.reserved).toBe(0);
  }, 60_000);
});

describe('reconciliation with the gateway', () => {
  const reconcileNow = () =>
    sql`select graphile_worker.add_job('maintenance__reconcile_gateway', '{}'::json)`.execute(
      system.database.db,
    );
  const openDifferences = async (paymentId: string) =>
    (
      await sql<{ kind: string; provider: string; detail: Record<string, unknown> }>`
        select kind, provider, detail from gateway_reconciliation_differences
         where payment_id = ${paymentId}::uuid and resolved_at is null`.execute(system.database.db)
    ).rows;

  it('finds a refund made at the gateway behind our back: a difference, a metric, a degraded /health', async () => {
    const walletId = await system.newWallet(3000);
    const paid = (await system.pay(walletId, 1500, { wait: 15 })).body;
    expect(paid.status).toBe('COMPLETED');
    const [charge] = await chargesFor(system.gatewayUrl, 'alpha', paid.id);
    const outside = await request(system.gatewayUrl, 'POST', '/alpha/refunds', {
      body: { charge_id: charge?.id, amount: 100 },
      headers: idem(`outside-${paid.id}`),
    });
    expect(outside.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100)); // RECONCILE_GRACE_SECONDS
    await reconcileNow();
    const [difference] = await waitFor(
      'the reconciliation to record the difference',
      async () => {
        const found = await openDifferences(paid.id);
        return found.length > 0 ? found : undefined;
      },
      15_000,
      200,
    );
    expect(difference).toMatchObject({
      kind: 'refunds_mismatch',
      provider: 'alpha',
      detail: { charge_id: charge?.id, gateway_refunded: 100, refunded_amount: 0 },
    });
    const health = await request(system.api.baseUrl, 'GET', '/health');
    expect(health.body.status).toBe('degraded');
    expect(health.body.checks.audit.detail).toMatch(/open differences with the gateway/);
    const metrics = await (await fetch(`${system.api.baseUrl}/metrics`)).text();
    expect(
      Number(/^gateway_reconciliation_discrepancies(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
    // The operator settles it (docs/runbooks/gateway.md) and says why.
    await sql`update gateway_reconciliation_differences set resolved_at = now(), resolution = 'refund made by support at the gateway, customer informed'
               where payment_id = ${paid.id}::uuid and resolved_at is null`.execute(system.database.db);
    expect(await openDifferences(paid.id)).toEqual([]);
  });

  it('a charge only the gateway knows of (its webhook lost) is found by the lookup and its money given back', async () => {
    await system.control('alpha', { decline_rate: 1 });
    const walletId = await system.newWallet(2000);
    const failed = (await system.pay(walletId, 730, { wait: 15 })).body;
    expect(failed).toMatchObject({ status: 'FAILED', failure_reason: 'GATEWAY_DECLINED' });
    await system.control('alpha', { decline_rate: 0, webhook_drop_rate: 1 });
    const rogue = await request(system.gatewayUrl, 'POST', '/alpha/charges', {
      body: {
        amount: 730,
        currency: 'USD',
        reference: failed.id,
        callback_url: `${system.api.baseUrl}/webhooks/gateway/alpha`,
      },
      headers: idem(`lost-${failed.id}`),
    });
    expect(rogue.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1100));
    await reconcileNow();
    await waitFor(
      'the stray charge found by the lookup to be refunded',
      async () => (await keptAtGateway(system.gatewayUrl, failed.id)).kept === 0,
      20_000,
      200,
    );
    const detected = (await events(failed.id)).find((e) => e.event_type === 'payment.stray_charge_detected');
    expect(detected?.data).toMatchObject({
      provider: 'alpha',
      charge_id: rogue.body.id,
      amount: 730,
      source: 'lookup',
    });
    expect((await events(failed.id)).map((e) => e.event_type)).toContain('payment.stray_charge_refunded');
    expect((await payment(failed.id)).status).toBe('FAILED');
    expect((await walletState(system.database, walletId)).balance).toBe(2000);
  });
});
