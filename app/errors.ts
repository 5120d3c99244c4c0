/**
 * Typed domain errors. Each carries a stable UPPER_SNAKE `code` (docs/errors.md) and the HTTP
 * status it maps to; app/http/problem.ts turns any of them into application/problem+json.
 */

/**
 * Every problem code the API can answer with. Each is a problem type with its own entry (a heading)
 * in docs/errors.md, which its `type` URI points at; a test keeps the two lists equal, so a new
 * code does not compile until it is listed here and is not merged until it is documented.
 */
export const PROBLEM_CODES = [
  'MALFORMED_JSON',
  'MALFORMED_URL',
  'IDEMPOTENCY_KEY_REQUIRED',
  'REQUEST_ABORTED',
  'UNAUTHORIZED',
  'UNAUTHENTICATED',
  'INVALID_SIGNATURE',
  'INSUFFICIENT_SCOPE',
  'FORBIDDEN',
  'NOT_FOUND',
  'WALLET_NOT_FOUND',
  'PAYMENT_NOT_FOUND',
  'API_KEY_NOT_FOUND',
  'DEAD_LETTER_NOT_FOUND',
  'CHARGE_NOT_FOUND',
  'PROVIDER_NOT_FOUND',
  'IDEMPOTENCY_IN_PROGRESS',
  'CONCURRENT_MODIFICATION',
  'DEPOSIT_ALREADY_APPLIED',
  'PAYMENT_NOT_REFUNDABLE',
  'DEAD_LETTER_ALREADY_REPLAYED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'VALIDATION_FAILED',
  'IDEMPOTENCY_KEY_REUSED',
  'CURRENCY_MISMATCH',
  'REFUND_EXCEEDS_REMAINING',
  'GATEWAY_ANSWER_MISMATCH',
  'BALANCE_LIMIT_EXCEEDED',
  'RATE_LIMITED',
  'INTERNAL_ERROR',
  'SERVICE_UNAVAILABLE',
] as const;
export type ProblemCode = (typeof PROBLEM_CODES)[number];

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly title: string;
  readonly errors?: FieldError[];
  /** Response headers the problem needs (WWW-Authenticate, Retry-After). */
  readonly headers?: Record<string, string>;

  constructor(
    status: number,
    code: ProblemCode,
    title: string,
    detail: string,
    errors?: FieldError[],
    headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.title = title;
    this.errors = errors;
    this.headers = headers;
  }
}

export class ValidationFailed extends AppError {
  constructor(errors: FieldError[], detail = 'The request is not valid.') {
    super(422, 'VALIDATION_FAILED', 'Validation failed', detail, errors);
  }
}

export class MalformedJson extends AppError {
  constructor() {
    super(400, 'MALFORMED_JSON', 'Malformed JSON', 'The request body is not valid JSON.');
  }
}

export class MalformedUrl extends AppError {
  constructor() {
    super(400, 'MALFORMED_URL', 'Malformed URL', 'The URL path is not valid percent-encoding.');
  }
}

export class UnsupportedMediaType extends AppError {
  constructor(detail = 'Send the body as application/json.') {
    super(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', detail);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(limit: string) {
    super(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', `Request bodies are limited to ${limit}.`);
  }
}

export class NotFound extends AppError {
  constructor(code: ProblemCode, detail: string) {
    super(404, code, 'Not found', detail);
  }
}

export class WalletNotFound extends NotFound {
  constructor(id: string) {
    super('WALLET_NOT_FOUND', `Wallet ${id} does not exist.`);
  }
}

export class RouteNotFound extends NotFound {
  constructor(method: string, path: string) {
    super('NOT_FOUND', `No route for ${method} ${path}.`);
  }
}

export class IdempotencyKeyRequired extends AppError {
  constructor() {
    super(
      400,
      'IDEMPOTENCY_KEY_REQUIRED',
      'Idempotency key required',
      'Send an Idempotency-Key header (1..255 characters).',
    );
  }
}

export class IdempotencyKeyReused extends AppError {
  constructor() {
    super(
      422,
      'IDEMPOTENCY_KEY_REUSED',
      'Idempotency key reused',
      'This Idempotency-Key was already used with a different request.',
    );
  }
}

export class IdempotencyInProgress extends AppError {
  constructor() {
    super(
      409,
      'IDEMPOTENCY_IN_PROGRESS',
      'Request in progress',
      'A request with this Idempotency-Key is still being processed; retry shortly.',
    );
  }
}

export class Unauthorized extends AppError {
  constructor() {
    super(401, 'UNAUTHORIZED', 'Unauthorized', 'Send Authorization: Bearer <ADMIN_TOKEN>.');
  }
}

/** No key, or one that is unknown, malformed or revoked (docs/security.md). */
export class Unauthenticated extends AppError {
  constructor() {
    super(
      401,
      'UNAUTHENTICATED',
      'Unauthenticated',
      'Send Authorization: Bearer <api key> with a key that exists and is not revoked.',
      undefined,
      { 'WWW-Authenticate': 'Bearer realm="wallet-payments"' },
    );
  }
}

/** The key is valid but does not allow this: a `read` key on a write. */
export class InsufficientScope extends AppError {
  constructor(needed: string) {
    super(
      403,
      'INSUFFICIENT_SCOPE',
      'Insufficient scope',
      `This key does not have the "${needed}" scope.`,
      undefined,
      { 'WWW-Authenticate': `Bearer realm="wallet-payments", error="insufficient_scope", scope="${needed}"` },
    );
  }
}

export class Forbidden extends AppError {
  constructor(detail: string) {
    super(403, 'FORBIDDEN', 'Forbidden', detail);
  }
}

export class RateLimited extends AppError {
  constructor(retryAfterSeconds: number, headers: Record<string, string>) {
    super(
      429,
      'RATE_LIMITED',
      'Too many requests',
      `This key is over its rate limit; retry in ${retryAfterSeconds} s.`,
      undefined,
      { ...headers, 'Retry-After': String(retryAfterSeconds) },
    );
  }
}

export class StaleAggregateVersion extends AppError {
  constructor(detail: string) {
    super(409, 'CONCURRENT_MODIFICATION', 'Concurrent modification', detail);
  }
}

export class ServiceUnavailable extends AppError {
  constructor(detail: string) {
    super(503, 'SERVICE_UNAVAILABLE', 'Service unavailable', detail);
  }
}

/** Catch sites receive `unknown`; this makes it an Error without losing what it was. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}
