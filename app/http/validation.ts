import type { Request } from 'express';
import type { ZodType, z } from 'zod';
import { type AppError, type FieldError, ValidationFailed } from '../errors.ts';

/**
 * Parses request parts with zod. Object schemas are strict, so unknown fields are refused.
 * Failures become 422 VALIDATION_FAILED with one entry per problem.
 */
export function parseWith<S extends ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message:
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
  throw new ValidationFailed(errors);
}

export function parseBody<S extends ZodType>(schema: S, req: Request): z.output<S> {
  return parseWith(schema, req.body ?? {}, 'body');
}

export function parseQuery<S extends ZodType>(schema: S, req: Request): z.output<S> {
  return parseWith(schema, req.query, 'query');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id in a path is a 404 of the resource, never a 422 or a 500 (contract). */
export function parseId(value: string | string[] | undefined, notFound: (id: string) => AppError): string {
  const id = Array.isArray(value) ? value.join('/') : (value ?? '');
  if (!UUID.test(id)) throw notFound(id);
  return id.toLowerCase();
}

/**
 * Finds the first string (value or key) holding a NUL character anywhere in a parsed JSON body.
 * Postgres text cannot store NUL, and such input is never legitimate here.
 */
export function findNulString(value: unknown, path: string[] = []): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') || '(root)' : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findNulString(item, [...path, String(i)]);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) return [...path, key].join('.');
      const found = findNulString(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}
