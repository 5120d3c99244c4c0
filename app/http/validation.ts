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

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id in a path is a 404 of the resource, never a 422 or a 500: a caller cannot tell a bad id from an unknown one. */
export function parseId(value: string | string[] | undefined, notFound: (id: string) => AppError): string {
  const id = Array.isArray(value) ? value.join('/') : (value ?? '');
  if (!UUID.test(id)) throw notFound(id);
  return id.toLowerCase();
}

/** Deeper than any request of this API needs (the deepest, a webhook, nests 2 levels). */
export const MAX_JSON_DEPTH = 32;

/**
 * The first reason a parsed body (or query) cannot be taken, or undefined: a string, value or key,
 * holding a NUL character (Postgres text cannot store it, and such input is never legitimate
 * here), or nesting deeper than MAX_JSON_DEPTH (100 kB of `[` is 50,000 levels, and recursive
 * code downstream, JSON.stringify or zod, would overflow the stack on it). Iterative for the same
 * reason; a depth problem is reported at the root, since its path would be as long as the nesting.
 */
export function findUnfitJson(root: unknown): FieldError | undefined {
  const nul = (path: string[]) => ({ path: path.join('.'), message: 'must not contain a NUL character' });
  const stack: Array<{ value: unknown; path: string[] }> = [{ value: root, path: [] }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value, path } = next;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return nul(path);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= MAX_JSON_DEPTH)
      return { path: '', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
    const entries: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((item, i) => [String(i), item])
      : Object.entries(value);
    // Pushed in reverse so the first problem in document order is found first.
    for (const [key, item] of entries.reverse()) {
      if (key.includes('\u0000')) return nul([...path, key]);
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return undefined;
}
