import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chargesFor } from './helpers/gateway.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * SIGTERM is how every orchestrator stops a process. A worker finishes the jobs it holds within
 * SHUTDOWN_GRACE_SECONDS; past the grace minus a margin it aborts them (graphile-worker's abort
 * signal reaches the gateway call), so they are released for another worker, never left locked.
 */
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem(
    { GATEWAY_ATTEMPT_TIMEOUT_MS: '20000', GATEWAY_MAX_ATTEMPTS: '1' },
    { workers: 0 },
  );
});
afterAll(async () => {
  await system?.close();
});
// Each test starts with no worker running and the simulator's defaults: a worker left by another
// test would take the job this one watches (vitest's shuffled order found it).
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
});
afterEach(async () => {
  await Promise.all(system.workers.map((w) => w.kill('SIGTERM')));
});

const chargeJobsLocked = async () => {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from graphile_worker.jobs
     where task_identifier in ('payment__fraud_check', 'payment__charge_gateway') and locked_at is not null`.execute(
    system.database.db,
  );
  return rows[0]?.n ?? 0;
};
/**
 * A worker with `grace` seconds holding a charge alpha answers after `latencyMs`, sent SIGTERM
 * while the charge is in flight: the payment and the worker's exit code.
 */
async function sigtermDuringCharge(latencyMs: number, grace: number) {
  await system.control('alpha', { latency_ms: latencyMs });
  const worker = await system.startWorker({ SHUTDOWN_GRACE_SECONDS: String(grace) });
  const walletId = await system.newWallet(1000);
  const paid = await system.pay(walletId, 100);
  await waitFor('the charge in flight', async () => (await chargeJobsLocked()) === 1);
  const exited = new Promise<number | null>((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  return { paymentId: paid.body.id as string, exitCode: await exited };
}

describe('graceful shutdown of a worker', () => {
  it('finishes the job it holds when the job ends within the grace period, then exits 0', async () => {
    const { paymentId, exitCode } = await sigtermDuringCharge(12_000, 25);
    expect(exitCode).toBe(0);
    // The worker that held the job finished it: the payment moved on with one call to the gateway.
    const attempt = await system.database.db
      .selectFrom('charge_attempts')
      .select(['status', 'calls'])
      .where('payment_id', '=', paymentId)
      .executeTakeFirstOrThrow();
    expect(attempt).toEqual({ status: 'succeeded', calls: 1 });
    expect(await chargeJobsLocked()).toBe(0);
  }, 60_000);

  it('aborts a job that would outlast the grace period: released at once, finished by the next worker with the same key', async () => {
    const { paymentId, exitCode } = await sigtermDuringCharge(15_000, 4);
    expect(exitCode).toBe(0);
    // Not left locked by a process that is gone: the next worker takes it without any sweep.
    expect(await chargeJobsLocked()).toBe(0);
    await system.control('alpha', { latency_ms: 0 });
    await system.startWorker({ WORKER_DEAD_AFTER_SECONDS: '3600' });
    const settled = await system.waitSettled(paymentId, 30_000);
    expect(settled.status).toBe('COMPLETED');
    const charges = await chargesFor(system.gatewayUrl, 'alpha', paymentId);
    expect(charges).toHaveLength(1);
  }, 90_000);
});

describe('graceful shutdown of the API', () => {
  it('answers /health/ready 503 from the moment it stops, and keeps serving through the drain', async () => {
    const { startTestApp } = await import('./helpers/app.ts');
    const { request } = await import('./helpers/http.ts');
    const app = await startTestApp({ SHUTDOWN_DRAIN_SECONDS: '2' });
    expect((await request(app.baseUrl, 'GET', '/health/ready')).status).toBe(200);
    const closing = app.close();
    const ready = await request(app.baseUrl, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('stopping');
    // Requests that still arrive during the drain are served, not refused.
    const wallet = await request(app.baseUrl, 'POST', '/wallets', {
      body: { currency: 'USD' },
      headers: { 'Idempotency-Key': 'drain-wallet' },
    });
    expect(wallet.status).toBe(201);
    await closing;
    await expect(fetch(`${app.baseUrl}/health/ready`)).rejects.toThrow();
  });
});
