import { timingSafeEqual } from 'node:crypto';
import { type RequestHandler, Router } from 'express';
import { sql } from 'kysely';
import { Unauthorized } from '../errors.ts';
import { apiKeysRouter } from './api-keys.routes.ts';
import { deadLettersRouter } from './dead-letters.routes.ts';
import type { AppDeps } from './deps.ts';
import { openApiRegistry, problemResponses } from './openapi.ts';
import { timestampSchema, z } from './zod.ts';

/** Operators' endpoints, behind `Authorization: Bearer <ADMIN_TOKEN>`. */
export function adminRouter(deps: AppDeps): Router {
  const { db, config } = deps;
  const router = Router();
  router.use(requireBearer(config.ADMIN_TOKEN));

  router.use(deadLettersRouter(deps));
  router.use(apiKeysRouter(deps));

  // Runs every audit now (and stores the run, as the scheduled check does).
  router.get('/audit', async (_req, res) => {
    const stuck = `${config.AUDIT_STUCK_AFTER_SECONDS} seconds`;
    const retention = `${config.OUTBOX_RETENTION_HOURS} hours`;
    const [walletBalances, money, stuckPayments, paymentStatus, outbox] = await Promise.all([
      sql`select * from audit__wallet_balances()`.execute(db),
      sql`select * from audit__money_conservation()`.execute(db),
      sql`select * from audit__stuck_payments(${stuck}::interval)`.execute(db),
      sql`select * from audit__payment_status()`.execute(db),
      sql`select * from audit__outbox(${retention}::interval)`.execute(db),
    ]);
    const { rows } = await sql<{ id: number; discrepancies: number }>`
      select id, discrepancies from audit__run(${stuck}::interval, ${retention}::interval)`.execute(db);
    res.json({
      run_id: rows[0]?.id,
      discrepancies: rows[0]?.discrepancies,
      checks: {
        wallet_balances: walletBalances.rows,
        money_conservation: money.rows,
        stuck_payments: stuckPayments.rows,
        payment_status: paymentStatus.rows,
        outbox: outbox.rows,
      },
    });
  });

  return router;
}

export function requireBearer(token: string): RequestHandler {
  const expected = Buffer.from(token);
  return (req, _res, next) => {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const given = Buffer.from(match?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Unauthorized();
    next();
  };
}

// What the audit functions return (db/functions/audit__*.sql), as node-postgres serialises it:
// numeric sums as decimal strings, an interval as its parts.
const numeric = z.string().openapi({ description: 'numeric, as a decimal string', example: '2500' });
const auditSchema = z
  .object({
    run_id: z.number().int().openapi({ description: 'The stored run (audit_runs.id)' }),
    discrepancies: z.number().int().openapi({ description: "The run's total: 0 when every check is clean" }),
    checks: z.object({
      wallet_balances: z.array(
        z.object({
          wallet_id: z.uuid(),
          balance: z.number().int(),
          ledger_sum: numeric,
          event_balance: z.number().int(),
          version: z.number().int(),
          event_version: z.number().int().nullable(),
        }),
      ),
      money_conservation: z.array(
        z.object({ check_name: z.string(), expected: numeric, actual: numeric, ok: z.boolean() }),
      ),
      stuck_payments: z.array(
        z.object({
          payment_id: z.uuid(),
          status: z.string(),
          saga_step: z.string(),
          updated_at: timestampSchema,
          stuck_for: z
            .object({
              years: z.number(),
              months: z.number(),
              days: z.number(),
              hours: z.number(),
              minutes: z.number(),
              seconds: z.number(),
              milliseconds: z.number(),
            })
            .partial()
            .openapi({ description: 'An interval: only its non-zero parts' }),
        }),
      ),
      payment_status: z.array(
        z.object({
          payment_id: z.uuid(),
          live_status: z.string(),
          event_status: z.string().nullable(),
          live_refunded: z.number().int(),
          event_refunded: z.number().int().nullable(),
        }),
      ),
      outbox: z.array(
        z.object({
          problem: z.enum(['outbox row without event', 'event without outbox row']),
          event_id: z.uuid(),
          outbox_id: z.number().int().nullable(),
        }),
      ),
    }),
  })
  .openapi('AuditRun');

openApiRegistry.registerPath({
  method: 'get',
  path: '/admin/audit',
  tags: ['admin'],
  summary: 'Run every consistency audit now (also stored as an audit run)',
  security: [{ adminToken: [] }],
  responses: {
    200: {
      description:
        "Each audit's rows (money_conservation lists every check with ok); discrepancies = the run's total",
      content: { 'application/json': { schema: auditSchema } },
    },
    ...problemResponses(401),
  },
});
