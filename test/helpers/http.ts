import { expectConformsToContract } from './openapi-contract.ts';

/**
 * A small JSON client over fetch, for black-box tests against the published API. A test client is
 * signed in: requests to an API carry the key registered for its base URL (useApiKey, done by
 * startTestApp), unless the request names another (`key`) or none (`key: null`). Every answer of
 * an API registered with checkAgainstContract (startTestApp does) is checked against
 * docs/openapi.json: an answer the contract does not allow fails the request.
 */
const keysByBaseUrl = new Map<string, string>();
const contractCheckedBaseUrls = new Set<string>();

export function checkAgainstContract(baseUrl: string): void {
  contractCheckedBaseUrls.add(baseUrl);
}

export function useApiKey(baseUrl: string, key: string): void {
  keysByBaseUrl.set(baseUrl, key);
}

/** The Authorization header of `key`, or of the key registered for `baseUrl`. */
export function authHeader(baseUrl: string, key?: string | null): Record<string, string> {
  const k = key === undefined ? keysByBaseUrl.get(baseUrl) : key;
  return k ? { authorization: `Bearer ${k}` } : {};
}

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function request<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: {
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    /** An API key for this request; null: none (default: the one registered for baseUrl). */
    key?: string | null;
  } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...authHeader(baseUrl, options.key), ...(options.headers ?? {}) };
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  if (contractCheckedBaseUrls.has(baseUrl))
    expectConformsToContract({
      method,
      path,
      status: res.status,
      contentType: res.headers.get('content-type'),
      body: parsed,
    });
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export const idem = (key: string) => ({ 'Idempotency-Key': key });
