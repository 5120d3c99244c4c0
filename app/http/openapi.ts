import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { problemSchema, z } from './zod.ts';

/**
 * Route files register their paths here, next to the zod schemas that validate them, so the
 * document cannot drift from the validation.
 */
export const openApiRegistry = new OpenAPIRegistry();
openApiRegistry.register('Problem', problemSchema);
openApiRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });

export const idempotencyKeyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(255).openapi({
    description: 'Makes the request exactly-once (1..255 characters; alias: x-idempotent-key).',
  }),
});

export function problemResponses(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: 'Malformed JSON, or the Idempotency-Key is missing',
    401: 'Missing or wrong credentials',
    404: 'Not found (also for a malformed id)',
    409: 'Conflict (e.g. IDEMPOTENCY_IN_PROGRESS)',
    413: 'Body over 100 kB',
    415: 'Body sent without Content-Type: application/json',
    422: 'Validation failed, or the Idempotency-Key was used with another request',
    503: 'Unavailable',
  };
  return Object.fromEntries(
    statuses.map((s) => [
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
  });
  return cached;
}
