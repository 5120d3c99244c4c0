import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { problemSchema, z } from './zod.ts';

/**
 * Route files register their paths here, next to the zod schemas that validate them, so the
 * document cannot drift from the validation.
 */
export const openApiRegistry = new OpenAPIRegistry();
openApiRegistry.register('Problem', problemSchema);
openApiRegistry.registerComponent('securitySchemes', 'adminToken', {
  type: 'http',
  scheme: 'bearer',
  description: 'The ADMIN_TOKEN of the deployment: operators only (/admin/*).',
});
openApiRegistry.registerComponent('securitySchemes', 'apiKey', {
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'wpk_<prefix>_<secret>',
  description:
    'An API key (POST /admin/api-keys, or `npm run keys -- create --owner <owner>`). It acts for its owner; a `read` key may only read.',
});

export const idempotencyKeyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(255).openapi({
    description: 'Makes the request exactly-once (1..255 characters; alias: x-idempotent-key).',
  }),
});

/**
 * What any request may be answered, whatever its operation: a body or query refused before any
 * route runs (app/http/app.ts: malformed JSON or percent-encoding, over 100 kB, not JSON, NUL
 * characters or nesting too deep; a GET with a body included), a bug, the database unreachable.
 */
export const ANY_OPERATION_PROBLEMS = [400, 413, 415, 422, 500, 503];

/** The problem answers of an operation: `statuses` and ANY_OPERATION_PROBLEMS. */
export function problemResponses(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: 'MALFORMED_JSON, MALFORMED_URL (a path that is not valid percent-encoding), or IDEMPOTENCY_KEY_REQUIRED',
    401: 'Missing or wrong credentials: UNAUTHENTICATED (API key; WWW-Authenticate), UNAUTHORIZED (admin token), INVALID_SIGNATURE (webhook)',
    403: 'FORBIDDEN, or INSUFFICIENT_SCOPE: a read key on a write',
    404: 'Not found (also for a malformed id)',
    409: 'Conflict (e.g. IDEMPOTENCY_IN_PROGRESS)',
    413: 'Body over 100 kB',
    415: 'Body sent without Content-Type: application/json',
    422: 'VALIDATION_FAILED (also NUL characters or nesting deeper than 32 levels in any body or query), or the Idempotency-Key was used with another request',
    429: "RATE_LIMITED: over the key's rate limit (Retry-After, RateLimit-* headers)",
    500: 'INTERNAL_ERROR: a bug, logged with the trace id; the body says nothing more',
    503: 'SERVICE_UNAVAILABLE: the database is unreachable, busy or a transaction conflicted; retry',
  };
  return Object.fromEntries(
    [...new Set([...statuses, ...ANY_OPERATION_PROBLEMS])].map((s) => [
      s,
      {
        description: descriptions[s] ?? 'Error',
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    ]),
  );
}

let cached: object | undefined;
export function openApiDocument(): object {
  cached ??= new OpenApiGeneratorV31(openApiRegistry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Wallet payments API',
      version: '1.0.0',
      description:
        'Wallets, deposits and payments; every state change is an event relayed to Kafka. See docs/ in the repository.',
    },
    servers: [{ url: '/' }],
    // Every path needs an API key unless it says otherwise (admin: the admin token; webhooks: none,
    // they are signed).
    security: [{ apiKey: [] }],
  });
  return cached;
}
