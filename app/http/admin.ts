import { timingSafeEqual } from 'node:crypto';
import { type RequestHandler, Router } from 'express';
import { sql } from 'kysely';
import { Unauthorized } from '../errors.ts';
import { apiKeysRouter } from './api-keys.routes.ts';
import { deadLettersRouter } from './dead-letters.routes.ts';
import type { AppDeps } from './deps.ts';
import { openApiRegistry, problemResponses } from './openapi.ts';
import { z } from './zod.ts';

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

openApiRegistry.registerPath({
  method: 'get',
  path: '/admin/audit',
  tags: ['admin'],
  summary: 'Run every consistency audit now (also stored as an audit run)',
  security: [{ adminToken: [] }],
  responses: {
    200: {
      description:
        "Each audit's rows (money_conservation lists every check with ok); discrepancies = their total",
      content: {
        'application/json': {
          schema: z.object({
            wallet_balances: z.object({
              ok: z.boolean(),
              discrepancies: z.array(z.record(z.string(), z.unknown())),
            }),
          }),
        },
      },
    },
    ...problemResponses(401),
  },
});
