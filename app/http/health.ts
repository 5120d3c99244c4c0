import { type Request, Router } from 'express';
import { sql } from 'kysely';
import { type Check, databaseCheck as checkDatabase, readinessOf } from '../observability/readiness.ts';
import type { AppDeps } from './deps.ts';
import { openApiRegistry, problemResponses } from './openapi.ts';
import { problemSchema, z } from './zod.ts';

/**
 * healthy: every check passes. degraded: the database answers but a worker or the relay has not
 * reported within HEALTH_STALE_SECONDS (payments would stall), or the audit found discrepancies or
 * is overdue (AUDIT_OVERDUE_SECONDS). unhealthy (503): no database.
 */
export function healthRouter({ db, config, logger, lifecycle }: AppDeps): Router {
  const router = Router();

  /** The raw error goes to the log with the request id. */
  const databaseCheck = (req: Request): Promise<Check> =>
    checkDatabase(
      () => sql`select 1`.execute(db),
      (err) => logger.warn({ err, requestId: req.id, traceId: req.traceId }, 'health: database check failed'),
    );

  async function heartbeatCheck(role: 'worker' | 'relay'): Promise<Check> {
    const row = await db
      .selectFrom('process_heartbeats')
      .select((eb) => eb.fn.countAll<number>().as('alive'))
      .where('role', '=', role)
      .where('last_seen_at', '>', sql<Date>`now() - make_interval(secs => ${config.HEALTH_STALE_SECONDS})`)
      .executeTakeFirst();
    const alive = Number(row?.alive ?? 0);
    return alive > 0
      ? { status: 'pass', detail: `${alive} ${role} process(es) reporting` }
      : { status: 'fail', detail: `no ${role} reported in the last ${config.HEALTH_STALE_SECONDS}s` };
  }

  /**
   * The latest scheduled audit and the reconciliation with the gateway: any discrepancy, or any open
   * difference with the gateway, makes the system degraded until it is cleared.
   */
  async function auditCheck(): Promise<Check> {
    const row = await db
      .selectFrom('audit_runs')
      .select(['discrepancies', 'ran_at', 'details'])
      // The database's clock, not this process's: the audit's time was written by the database.
      .select(sql<number>`extract(epoch from now() - ran_at)::float8`.as('age_seconds'))
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const gateway = await db
      .selectFrom('gateway_reconciliation_differences')
      .select((eb) => eb.fn.countAll<number>().as('open'))
      .where('resolved_at', 'is', null)
      .executeTakeFirst();
    const differences = Number(gateway?.open ?? 0);
    if (differences > 0)
      return {
        status: 'fail',
        detail: `${differences} open differences with the gateway (gateway_reconciliation_differences)`,
      };
    if (!row) return { status: 'pass', detail: 'no audit has run yet' };
    if (row.age_seconds > config.AUDIT_OVERDUE_SECONDS)
      return {
        status: 'fail',
        detail: `audit overdue: the last one ran at ${row.ran_at.toISOString()} (more than ${config.AUDIT_OVERDUE_SECONDS}s ago); are the worker's crons running?`,
      };
    return row.discrepancies === 0
      ? { status: 'pass', detail: `clean at ${row.ran_at.toISOString()}` }
      : {
          status: 'fail',
          detail: `${row.discrepancies} discrepancies at ${row.ran_at.toISOString()}: ${JSON.stringify(row.details)}`,
        };
  }

  router.get('/health', async (req, res) => {
    const database = await databaseCheck(req);
    const unknown: Check = { status: 'fail', detail: 'database unreachable' };
    const [worker, relay, audit] =
      database.status === 'pass'
        ? await Promise.all([heartbeatCheck('worker'), heartbeatCheck('relay'), auditCheck()])
        : [unknown, unknown, unknown];
    const checks = { database, worker, relay, audit };
    const status =
      database.status === 'fail'
        ? 'unhealthy'
        : Object.values(checks).every((c) => c.status === 'pass')
          ? 'healthy'
          : 'degraded';
    res.status(status === 'unhealthy' ? 503 : 200).json({ status, checks });
  });

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'alive' });
  });

  router.get('/health/ready', async (req, res) => {
    // A stopping process takes no new work: the load balancer must stop sending it requests.
    const readiness = lifecycle?.stopping
      ? readinessOf(true, {})
      : readinessOf(false, { database: await databaseCheck(req) });
    res.status(readiness.status === 'ready' ? 200 : 503).json(readiness);
  });

  return router;
}

const checkSchema = z.object({ status: z.enum(['pass', 'fail']), detail: z.string() });
const healthSchema = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  checks: z.object({ database: checkSchema, worker: checkSchema, relay: checkSchema, audit: checkSchema }),
});
const readinessSchema = z.object({
  status: z.enum(['ready', 'not_ready', 'stopping']),
  // Empty while stopping: a stopping process is not ready whatever the database says.
  checks: z.object({ database: checkSchema.optional() }),
});
const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
// A 503 is the check's own JSON, or a problem when the database went away after the check passed.
const jsonOrProblem = (schema: z.ZodType) => ({
  ...json(schema),
  'application/problem+json': { schema: problemSchema },
});

openApiRegistry.registerPath({
  method: 'get',
  path: '/health',
  tags: ['operations'],
  summary: 'Health: the database, worker and relay heartbeats, the latest audit',
  security: [],
  responses: {
    ...problemResponses(),
    200: {
      description: 'healthy, or degraded (a check failed but the database answers)',
      content: json(healthSchema),
    },
    503: { description: 'unhealthy: the database does not answer', content: jsonOrProblem(healthSchema) },
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/health/live',
  tags: ['operations'],
  summary: 'Liveness: the process answers',
  security: [],
  responses: {
    ...problemResponses(),
    200: { description: 'alive', content: json(z.object({ status: z.literal('alive') })) },
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/health/ready',
  tags: ['operations'],
  summary: 'Readiness: the process takes requests (the database answers, it is not stopping)',
  security: [],
  responses: {
    ...problemResponses(),
    200: { description: 'ready', content: json(readinessSchema) },
    503: {
      description: 'not_ready (no database) or stopping (shutting down)',
      content: jsonOrProblem(readinessSchema),
    },
  },
});
