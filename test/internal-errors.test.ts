import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestApp } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { request } from './helpers/http.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * Internal errors stay internal: what a gateway's error page says, a raw SQL error, a connection
 * error, never reach what the public API serves (payments, their steps and events, /health) nor
 * what goes to Kafka (the outbox rows are the Kafka messages). Operators find them in the logs, by
 * payment, job and trace id, and in the dead letters (operator-only, behind the admin token).
 */
const MARKER = 'internal-marker-7f3a9c';

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem();
});
afterAll(async () => {
  await system?.close();
});
beforeEach(async () => {
  await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
  await fetch(`${system.gatewayUrl}/beta/_control/reset`, { method: 'POST' });
});

const get = async (path: string) => (await request(system.api.baseUrl, 'GET', path)).body;

/** Everything public about a payment: the payment with its steps, its events, its wallet's list. */
async function publicText(paymentId: string): Promise<string> {
  const payment = await get(`/payments/${paymentId}`);
  const events = await get(`/payments/${paymentId}/events`);
  const list = await get(`/payments?wallet_id=${payment.wallet_id}`);
  return JSON.stringify([payment, events, list]);
}

/** The Kafka messages of a payment and of its wallet: the outbox rows, headers and payload. */
async function outboxText(paymentId: string, walletId: string): Promise<string> {
  const { rows } = await sql<{ message: unknown }>`
    select json_build_object('key', key, 'headers', headers, 'payload', payload) as message
      from outbox where key in (${paymentId}, ${walletId}) order by id`.execute(system.database.db);
  expect(rows.length).toBeGreaterThan(0);
  return JSON.stringify(rows);
}

const stepsOf = (payment: {
  steps: Array<{ name: string; status: string; detail?: Record<string, unknown> }>;
}) => payment.steps.map((s) => `${s.name}:${s.status}`);

describe('internal errors stay internal', () => {
  it("keeps a gateway's error page (503, nothing processed) out of the payment, its events and Kafka; the worker log has it", async () => {
    await system.control('alpha', { down: true, error_detail: `${MARKER} at pg-7.gw.internal:5432` });
    await system.control('beta', { down: true, error_detail: `${MARKER} stack: at Charge.create` });
    const walletId = await system.newWallet(1000);
    const paid = await system.pay(walletId, 100, { wait: 20 });
    const payment = await system.waitSettled(paid.body.id);
    expect(payment).toMatchObject({ status: 'FAILED', failure_reason: 'GATEWAY_UNAVAILABLE' });

    // What is recorded and published is the answer's status (the step keeps alpha's failure).
    const failedCharges = payment.steps.filter((s: { name: string }) => s.name === 'gateway_charge');
    expect(failedCharges.map((s: { detail: unknown }) => s.detail)).toEqual([
      { provider: 'alpha', error: 'gateway answered 503' },
    ]);
    const events = (await get(`/payments/${payment.id}/events`)).items;
    expect(
      events
        .filter((e: { event_type: string }) => e.event_type === 'payment.charge_failed')
        .map((e: { data: { provider: string; error: string } }) => [e.data.provider, e.data.error]),
    ).toEqual([
      ['alpha', 'gateway answered 503'],
      ['beta', 'gateway answered 503'],
    ]);
    expect(await publicText(payment.id)).not.toContain(MARKER);
    expect(await outboxText(payment.id, walletId)).not.toContain(MARKER);
    // Operators find it: the worker's log line has the answer, with the payment it was about.
    const logged = system.workers[0]?.output() ?? '';
    const line = logged.split('\n').find((l) => l.includes(MARKER) && l.includes(payment.id));
    expect(line, logged.slice(-3000)).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({
      taskIdentifier: 'payment__fraud_check', // the first charge runs in the job that debited
      jobId: expect.any(Number),
      paymentId: payment.id,
      traceId: expect.any(String),
      reason: 'gateway answered 503',
    });
  });

  it('keeps a 500 error page out of the steps of a payment waiting on an unknown outcome, and after it completes', async () => {
    await system.control('alpha', { error_rate: 1, webhook_drop_rate: 1, error_detail: MARKER });
    const walletId = await system.newWallet(1000);
    const paid = (await system.pay(walletId, 200)).body;
    const waiting = await waitFor(
      'the payment to wait on an unknown outcome',
      async () => {
        const p = await get(`/payments/${paid.id}`);
        return stepsOf(p).includes('gateway_charge:outcome_unknown') ? p : undefined;
      },
      20_000,
    );
    const unknown = waiting.steps.find((s: { status: string }) => s.status === 'outcome_unknown');
    expect(unknown.detail).toMatchObject({ provider: 'alpha', error: 'gateway answered 500' });
    expect(await publicText(paid.id)).not.toContain(MARKER);

    await fetch(`${system.gatewayUrl}/alpha/_control/reset`, { method: 'POST' });
    const settled = await system.waitSettled(paid.id, 30_000);
    expect(settled).toMatchObject({ status: 'COMPLETED', provider: 'alpha' });
    expect(await publicText(paid.id)).not.toContain(MARKER);
    expect(await outboxText(paid.id, walletId)).not.toContain(MARKER);
  });

  it('keeps a raw SQL error out of the steps of a job that retries and dead-letters; the dead letter keeps it for operators', async () => {
    const { db } = system.database;
    await sql`create function test_refuse_charge_attempt() returns trigger language plpgsql as $$
              begin raise exception 'relation "${sql.raw(MARKER)}" does not exist'; end $$`.execute(db);
    await sql`create trigger test_refuse_charge_attempt before insert on charge_attempts
              for each row execute function test_refuse_charge_attempt()`.execute(db);
    try {
      const walletId = await system.newWallet(1000);
      const paid = (await system.pay(walletId, 300)).body;
      const letter = await waitFor(
        'the charge step in the dead letters',
        async () => {
          const list = await request(system.api.baseUrl, 'GET', '/admin/dead-letters', {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          });
          return list.body.items.find((d: { payment_id: string }) => d.payment_id === paid.id);
        },
        40_000,
        250,
      );
      expect(letter.last_error).toContain(MARKER); // operator-only, behind the admin token

      const payment = await get(`/payments/${paid.id}`);
      // The attempt's record fails with the debit (one transaction): the job that debits retries.
      const failures = payment.steps.filter((s: { name: string }) => s.name === 'payment__fraud_check');
      expect(failures.map((s: { status: string }) => s.status)).toEqual([
        'retrying',
        'retrying',
        'dead_lettered',
      ]);
      for (const step of failures)
        expect(step.detail).toMatchObject({ error_code: 'DATABASE_ERROR', job_id: letter.job_id });
      expect(failures.at(-1).detail.dead_letter_id).toBe(letter.id);
      expect(await publicText(paid.id)).not.toContain(MARKER);
      expect(await outboxText(paid.id, walletId)).not.toContain(MARKER);
    } finally {
      await sql`drop trigger test_refuse_charge_attempt on charge_attempts`.execute(db);
      await sql`drop function test_refuse_charge_attempt()`.execute(db);
    }
  });

  it('shows no raw database error in /health', async () => {
    const database = await createTestDatabase();
    const name = new URL(database.url).pathname.slice(1);
    const api = await startTestApp({}, database);
    try {
      expect((await request(api.baseUrl, 'GET', '/health')).body.checks.database.status).toBe('pass');
      // The database refuses every new connection, and the API's open ones are cut.
      await sql`alter database ${sql.id(name)} allow_connections false`.execute(system.database.db);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`.execute(
        system.database.db,
      );
      const health = await waitFor('/health to see the database gone', async () => {
        const res = await request(api.baseUrl, 'GET', '/health');
        return res.status === 503 ? res : undefined;
      });
      expect(health.body).toMatchObject({ status: 'unhealthy', checks: { database: { status: 'fail' } } });
      expect(health.body.checks.database.detail).toBe('unreachable');
      expect(JSON.stringify(health.body)).not.toMatch(new RegExp(`${name}|accepting connections|terminat`));
      const ready = await request(api.baseUrl, 'GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(JSON.stringify(ready.body)).not.toMatch(new RegExp(`${name}|accepting connections|terminat`));
    } finally {
      await sql`alter database ${sql.id(name)} allow_connections true`.execute(system.database.db);
      await api.close();
      await database.drop();
    }
  });
});
