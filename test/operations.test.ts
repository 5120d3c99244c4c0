import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.ts';
import { makePayment, makeWallet } from './helpers/factories.ts';
import { request } from './helpers/http.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ HEALTH_STALE_SECONDS: '30' });
});
afterAll(async () => {
  await app.close();
});

describe('operations endpoints', () => {
  it('reports degraded while no worker or relay reports, healthy once both do', async () => {
    const degraded = await request(app.baseUrl, 'GET', '/health');
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.checks.database.status).toBe('pass');
    expect(degraded.body.checks.worker.status).toBe('fail');

    for (const role of ['worker', 'relay']) {
      await app.database.pool.query('select heartbeat__beat($1, $2, 1, $3)', [
        `${role}-test`,
        role,
        'test-host',
      ]);
    }
    const healthy = await request(app.baseUrl, 'GET', '/health');
    expect(healthy.body).toMatchObject({
      status: 'healthy',
      checks: {
        database: { status: 'pass' },
        worker: { status: 'pass' },
        relay: { status: 'pass' },
        audit: { status: 'pass' },
      },
    });

    // A scheduled audit that found discrepancies degrades the system until a clean run.
    await app.database.pool.query(
      `insert into audit_runs (discrepancies, details) values (2, '{"wallet_balances": 2}')`,
    );
    const audited = await request(app.baseUrl, 'GET', '/health');
    expect(audited.body.status).toBe('degraded');
    expect(audited.body.checks.audit.status).toBe('fail');
    const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^audit_discrepancies(\{[^}]*\})? 2$/m);
    await app.database.pool.query(`insert into audit_runs (discrepancies, details) values (0, '{}')`);
    expect((await request(app.baseUrl, 'GET', '/health')).body.status).toBe('healthy');

    // A heartbeat older than HEALTH_STALE_SECONDS no longer counts.
    await app.database.pool.query(
      `update process_heartbeats set last_seen_at = now() - interval '31 seconds' where role = 'relay'`,
    );
    expect((await request(app.baseUrl, 'GET', '/health')).body.status).toBe('degraded');
  });

  it('flags an audit that is overdue: a clean result from before an outage is not a clean system', async () => {
    for (const role of ['worker', 'relay'])
      await app.database.pool.query('select heartbeat__beat($1, $2, 1, $3)', [`${role}-overdue`, role, 'h']);
    await app.database.pool.query(
      `insert into audit_runs (discrepancies, details, ran_at) values (0, '{}', now() - interval '10 minutes')`,
    );
    const stale = await request(app.baseUrl, 'GET', '/health');
    expect(stale.body.status).toBe('degraded');
    expect(stale.body.checks.audit).toMatchObject({ status: 'fail' });
    expect(stale.body.checks.audit.detail).toMatch(/overdue/);
    await app.database.pool.query(`insert into audit_runs (discrepancies, details) values (0, '{}')`);
    expect((await request(app.baseUrl, 'GET', '/health')).body.checks.audit.status).toBe('pass');
  });

  it('answers liveness and readiness', async () => {
    expect((await request(app.baseUrl, 'GET', '/health/live')).status).toBe(200);
    const ready = await request(app.baseUrl, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
  });

  it('exports Prometheus metrics including the HTTP duration histogram by route pattern', async () => {
    await request(app.baseUrl, 'GET', '/wallets/00000000-0000-4000-8000-000000000001');
    const res = await fetch(`${app.baseUrl}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text).toMatch(/# TYPE http_request_duration_seconds histogram/);
    expect(text).toMatch(
      /http_request_duration_seconds_count\{[^}]*route="\/wallets\/:id"[^}]*status_code="404"/,
    );
    expect(text).not.toMatch(/route="\/wallets\/00000000/);
  });

  it('serves an OpenAPI 3.1 document generated from the route schemas, and a rendered reference', async () => {
    const doc = await request(app.baseUrl, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/wallets',
        '/wallets/{id}',
        '/wallets/{id}/deposits',
        '/wallets/{id}/ledger',
        '/admin/audit',
      ]),
    );
    const depositSchema = doc.body.components.schemas.CreateDeposit;
    expect(depositSchema.properties.amount).toMatchObject({ type: 'integer', maximum: 1_000_000_000_000 });
    expect(depositSchema.additionalProperties).toBe(false);

    const page = await fetch(`${app.baseUrl}/docs/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui');
  });

  it('serves exactly docs/openapi.json (run `npm run openapi` after changing a route or schema)', async () => {
    const served = await request(app.baseUrl, 'GET', '/openapi.json');
    expect(served.body).toEqual(JSON.parse(readFileSync('docs/openapi.json', 'utf8')));
  });

  it('guards /admin with the bearer token', async () => {
    expect((await request(app.baseUrl, 'GET', '/admin/audit')).status).toBe(401);
    const ok = await request(app.baseUrl, 'GET', '/admin/audit', {
      headers: { authorization: `Bearer ${app.config.ADMIN_TOKEN}` },
    });
    expect(ok.status).toBe(200);
  });
});

describe('GET /admin/audit on damaged data', () => {
  it("lists each audit's rows as docs/openapi.json documents them", async () => {
    // A database of its own: the damage would fail the health checks of the other tests.
    const damaged = await startTestApp({ AUDIT_STUCK_AFTER_SECONDS: '1' });
    try {
      const tamper = (statement: string) =>
        damaged.database.db.transaction().execute(async (trx) => {
          await sql`set local session_replication_role = replica`.execute(trx); // skips the guards
          await sql.raw(statement).execute(trx);
        });
      const wallet = await makeWallet(damaged.database, { balance: 1000 });
      const payment = await makePayment(damaged.database, wallet.id);
      const other = await makeWallet(damaged.database);
      await tamper(`update wallets set balance = 1234 where id = '${wallet.id}'`);
      await tamper(`update payments set status = 'PROCESSING', updated_at = now() - interval '1 hour 2 seconds'
                    where id = '${payment.id}'`);
      await tamper(`delete from outbox where key = '${other.id}'`);

      // helpers/http.ts checks the body against the documented schema.
      const audit = await request(damaged.baseUrl, 'GET', '/admin/audit', {
        headers: { authorization: `Bearer ${damaged.config.ADMIN_TOKEN}` },
      });
      expect(audit.status).toBe(200);
      expect(audit.body.discrepancies).toBeGreaterThan(0);
      for (const check of ['wallet_balances', 'stuck_payments', 'payment_status', 'outbox'])
        expect(audit.body.checks[check], check).not.toEqual([]);
      expect(audit.body.checks.money_conservation.some((c: { ok: boolean }) => !c.ok)).toBe(true);
    } finally {
      await damaged.close();
    }
  });
});
