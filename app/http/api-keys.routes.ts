import { Router } from 'express';
import { apiKeyView, createApiKey, listApiKeys, revokeApiKey } from '../auth/api-keys.ts';
import { NotFound } from '../errors.ts';
import type { AppDeps } from './deps.ts';
import { openApiRegistry, problemResponses } from './openapi.ts';
import { parseBody, parseId, parseQuery } from './validation.ts';
import { z } from './zod.ts';

const ownerId = z.string().min(1).max(128).openapi({ example: 'alice' });
const createKeyBody = z
  .strictObject({
    owner_id: ownerId,
    scopes: z
      .union([z.tuple([z.literal('read')]), z.tuple([z.literal('read'), z.literal('write')])])
      .optional()
      .openapi({ description: '["read"] or ["read","write"] (the default)' }),
    description: z.string().max(200).optional(),
  })
  .openapi('CreateApiKey');
const listQuery = z.strictObject({ owner_id: ownerId.optional() });
const keyIdParam = z.object({ id: z.uuid() });

const apiKeySchema = z
  .object({
    id: z.uuid(),
    prefix: z.string().openapi({ example: 'wpk_1a2b3c4d' }),
    owner_id: z.string(),
    scopes: z.array(z.enum(['read', 'write'])),
    description: z.string().nullable(),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey');
const createdKeySchema = apiKeySchema
  .extend({
    key: z.string().openapi({ description: 'The key itself: shown this once, stored only as a hash' }),
  })
  .openapi('CreatedApiKey');

class ApiKeyNotFound extends NotFound {
  constructor(id: string) {
    super('API_KEY_NOT_FOUND', `API key ${id} does not exist.`);
  }
}

/** Operators' key management, mounted under /admin (the admin token is checked there). */
export function apiKeysRouter({ db }: AppDeps): Router {
  const router = Router();

  router.post('/api-keys', async (req, res) => {
    const body = parseBody(createKeyBody, req);
    const { key, row } = await createApiKey(db, {
      ownerId: body.owner_id,
      scopes: body.scopes,
      description: body.description ?? null,
    });
    res.status(201).json({ ...apiKeyView(row), key });
  });

  router.get('/api-keys', async (req, res) => {
    const query = parseQuery(listQuery, req);
    res.json({ items: (await listApiKeys(db, query.owner_id)).map(apiKeyView) });
  });

  router.delete('/api-keys/:id', async (req, res) => {
    const id = parseId(req.params.id, (raw) => new ApiKeyNotFound(raw));
    if (!(await revokeApiKey(db, id))) throw new ApiKeyNotFound(id);
    res.status(204).end();
  });

  return router;
}

openApiRegistry.registerPath({
  method: 'post',
  path: '/admin/api-keys',
  tags: ['admin'],
  summary: 'Create an API key for an owner; the key is in this answer only',
  security: [{ adminToken: [] }],
  request: { body: { content: { 'application/json': { schema: createKeyBody } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: createdKeySchema } } },
    ...problemResponses(401, 400, 413, 415, 422),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/admin/api-keys',
  tags: ['admin'],
  summary: 'List API keys (never their secrets), newest first',
  security: [{ adminToken: [] }],
  request: { query: listQuery },
  responses: {
    200: {
      description: 'The keys',
      content: { 'application/json': { schema: z.object({ items: z.array(apiKeySchema) }) } },
    },
    ...problemResponses(401, 422),
  },
});
openApiRegistry.registerPath({
  method: 'delete',
  path: '/admin/api-keys/{id}',
  tags: ['admin'],
  summary: 'Revoke an API key: its next request is refused (401) on every API process',
  security: [{ adminToken: [] }],
  request: { params: keyIdParam },
  responses: { 204: { description: 'Revoked' }, ...problemResponses(401, 400, 404) },
});
