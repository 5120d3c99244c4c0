import { Router } from 'express';
import { sql } from 'kysely';
import { AppError, NotFound } from '../errors.ts';
import type { AppDeps } from './deps.ts';
import { openApiRegistry, problemResponses } from './openapi.ts';
import { parseQuery } from './validation.ts';
import { timestampSchema, z } from './zod.ts';

class DeadLetterNotFound extends NotFound {
  constructor(id: string) {
    super('DEAD_LETTER_NOT_FOUND', `Dead letter ${id} does not exist.`);
  }
}

class DeadLetterAlreadyReplayed extends AppError {
  constructor(detail: string) {
    super(409, 'DEAD_LETTER_ALREADY_REPLAYED', 'Already replayed', detail);
  }
}

const listQuery = z.strictObject({
  include: z.enum(['open', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** Mounted under /admin (bearer token checked there). SQL functions do the work; see docs/runbooks/dead-letters.md. */
export function deadLettersRouter({ db, config }: AppDeps): Router {
  const router = Router();

  router.get('/dead-letters', async (req, res) => {
    const query = parseQuery(listQuery, req);
    let q = db.selectFrom('dead_letter_jobs').selectAll().orderBy('id', 'desc').limit(query.limit);
    if (query.include === 'open') q = q.where('replayed_at', 'is', null).where('resolved_at', 'is', null);
    res.json({ items: await q.execute() });
  });

  router.post('/dead-letters/:id/replay', async (req, res) => {
    const raw = String(req.params.id);
    if (!/^\d{1,15}$/.test(raw)) throw new DeadLetterNotFound(raw);
    try {
      const { rows } = await sql<{
        job_id: number;
      }>`select dead_letter__replay(${Number(raw)}, ${config.JOB_MAX_ATTEMPTS}) as job_id`.execute(db);
      res.status(202).json({ dead_letter_id: Number(raw), job_id: rows[0]?.job_id });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'WP003') throw new DeadLetterNotFound(raw);
      if (code === 'WP004') throw new DeadLetterAlreadyReplayed((err as Error).message);
      throw err;
    }
  });

  return router;
}

// A dead_letter_jobs row as it is stored (db/migrations; docs/runbooks/dead-letters.md).
const deadLetterSchema = z
  .object({
    id: z.number().int(),
    job_id: z.number().int(),
    task: z.string(),
    payload: z.unknown(),
    attempts: z.number().int(),
    last_error: z.string().openapi({ description: "The job's last raw error: for operators only" }),
    payment_id: z.uuid().nullable(),
    first_failed_at: timestampSchema,
    last_failed_at: timestampSchema,
    replayed_at: timestampSchema.nullable(),
    replay_job_id: z.number().int().nullable(),
    resolved_at: timestampSchema.nullable(),
    resolution: z.string().nullable(),
    replayed_by: z.enum(['operator', 'product']).nullable(),
  })
  .openapi('DeadLetter');

openApiRegistry.registerPath({
  method: 'get',
  path: '/admin/dead-letters',
  tags: ['admin'],
  summary: 'Jobs that spent their attempts (open ones by default)',
  security: [{ adminToken: [] }],
  request: { query: listQuery },
  responses: {
    200: {
      description: 'Dead letters, newest first',
      content: { 'application/json': { schema: z.object({ items: z.array(deadLetterSchema) }) } },
    },
    ...problemResponses(401, 422),
  },
});
openApiRegistry.registerPath({
  method: 'post',
  path: '/admin/dead-letters/{id}/replay',
  tags: ['admin'],
  summary: 'Re-enqueue a dead-lettered job with fresh attempts',
  security: [{ adminToken: [] }],
  request: { params: z.object({ id: z.string().regex(/^\d+$/) }) },
  responses: {
    202: {
      description: 'Re-enqueued',
      content: {
        'application/json': {
          schema: z.object({ dead_letter_id: z.number().int(), job_id: z.number().int() }),
        },
      },
    },
    ...problemResponses(401, 400, 404, 409),
  },
});
