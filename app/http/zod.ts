import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { PROBLEM_CODES } from '../errors.ts';

// Schemas that feed /openapi.json import `z` from here, so `.openapi()` is available on them.
extendZodWithOpenApi(z);

export { z };

/** Money: a positive integer number of minor units, at most 10^12 (the API refuses more). */
export const MAX_AMOUNT = 1_000_000_000_000;
export const amountSchema = z
  .number({ error: 'must be an integer number of minor units' })
  .int({ error: 'must be an integer number of minor units' })
  .positive({ error: 'must be positive' })
  .max(MAX_AMOUNT, { error: `must be at most ${MAX_AMOUNT}` })
  .openapi({ example: 1230, description: 'Minor units (1230 = 12.30)' });

export const currencySchema = z
  .string()
  .regex(/^[A-Z]{3}$/, { error: 'must be an ISO 4217 code: three uppercase letters' })
  .openapi({ example: 'USD' });

export const uuidSchema = z.uuid();
export const timestampSchema = z
  .string()
  .openapi({ format: 'date-time', example: '2026-11-23T10:00:00.000Z' });

export const problemSchema = z
  .object({
    type: z.string().openapi({
      description:
        'The problem type: a URI of its entry in docs/errors.md (PROBLEM_TYPE_BASE_URL#<code in lower case>). Tell problems apart by `code`, which does not depend on where the docs are published.',
      example: 'docs/errors.md#wallet_not_found',
    }),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(PROBLEM_CODES),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');
