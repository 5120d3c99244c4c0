import { timingSafeEqual } from 'node:crypto';
import { type RequestHandler, Router } from 'express';
import { sql } from 'kysely';
import { Unauthorized } from '../errors.ts';
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

  router.get('/audit', async (_req, res) => {
    const { rows } = await sql<Record<string, unknown>>`select * from audit__wallet_balances()`.execute(db);
    res.json({ wallet_balances: { ok: rows.length === 0, discrepancies: rows } });
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
  summary: 'Run the consistency audits',
  security: [{ adminToken: [] }],
  responses: {
    200: {
      description: 'Audit results; ok=false lists the discrepancies',
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
