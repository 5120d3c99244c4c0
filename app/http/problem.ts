import type { ErrorRequestHandler, Response } from 'express';
import {
  AppError,
  ensureError,
  MalformedJson,
  MalformedUrl,
  PayloadTooLarge,
  type ProblemCode,
  ServiceUnavailable,
  StaleAggregateVersion,
  UnsupportedMediaType,
} from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

/** The anchor of a problem type's entry in docs/errors.md: GitHub's for the heading `### CODE`. */
export const problemAnchor = (code: ProblemCode): string => code.toLowerCase();

/**
 * A problem's `type` (RFC 9457): the URI of its entry in docs/errors.md, under `docsUrl`
 * (PROBLEM_TYPE_BASE_URL). Clients tell problems apart by `code`, which stays the same wherever
 * the documentation is published.
 */
export const problemTypeUri = (code: ProblemCode, docsUrl: string): string =>
  `${docsUrl}#${problemAnchor(code)}`;

/**
 * The one place errors become responses: RFC 9457 problem+json with a stable `code`
 * (docs/errors.md).
 * Unknown errors are logged and answered 500 without internals.
 */
export function sendProblem(res: Response, error: AppError, docsUrl: string): void {
  if (error.headers) res.set(error.headers);
  res
    .status(error.status)
    .type('application/problem+json')
    .json({
      type: problemTypeUri(error.code, docsUrl),
      title: error.title,
      status: error.status,
      code: error.code,
      detail: error.message,
      ...(error.errors ? { errors: error.errors } : {}),
    });
}

/** `docsUrl`: where docs/errors.md is published (PROBLEM_TYPE_BASE_URL); see problemTypeUri. */
export function problemHandler(logger: Logger, docsUrl: string): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const known = toAppError(err);
    if (known) {
      if (known.status >= 500)
        logger.warn({ err, requestId: req.id, traceId: req.traceId }, 'request failed: %s', known.code);
      return sendProblem(res, known, docsUrl);
    }
    logger.error({ err: ensureError(err), requestId: req.id, traceId: req.traceId }, 'unhandled error');
    sendProblem(
      res,
      new AppError(500, 'INTERNAL_ERROR', 'Internal error', 'An unexpected error occurred.'),
      docsUrl,
    );
  };
}

function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { type?: string; status?: number; code?: string; constraint?: string; message?: string };
  // body-parser (used by express.json) marks its errors with `type`.
  if (e.type === 'entity.parse.failed') return new MalformedJson();
  if (e.type === 'entity.too.large') return new PayloadTooLarge('100 kB');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported')
    return new UnsupportedMediaType();
  // The router could not percent-decode a path parameter (express marks it 400).
  if (err instanceof URIError) return new MalformedUrl();
  if (e.type === 'request.aborted')
    return new AppError(400, 'REQUEST_ABORTED', 'Request aborted', 'The client aborted the request.');
  return fromPostgresError(e);
}

/**
 * SQLSTATE -> HTTP. Custom WPxxx codes are listed in docs/errors.md. Constraint violations that
 * reach this point are bugs unless listed here, and stay 500.
 */
function fromPostgresError(e: {
  code?: string;
  constraint?: string;
  message?: string;
}): AppError | undefined {
  switch (e.code) {
    case 'WP001':
      return new StaleAggregateVersion(e.message ?? 'The aggregate changed concurrently; retry.');
    case '23505':
      if (e.constraint === 'event_version_unique')
        return new StaleAggregateVersion('The aggregate changed concurrently; retry.');
      // Two requests racing to apply one effect (a deposit key taken over after its lease): the
      // loser's retry is answered from the ledger (DEPOSIT_ALREADY_APPLIED, or a replay).
      if (e.constraint === 'ledger_source_ref_unique')
        return new StaleAggregateVersion('The same effect was applied concurrently; retry.');
      return undefined;
    case '40001':
    case '40P01':
      return new ServiceUnavailable('A concurrent transaction conflicted; retry.');
    // lock_timeout, statement_timeout (query_canceled), idle_in_transaction_session_timeout: the
    // transaction was rolled back; the same request (same Idempotency-Key) can be sent again.
    case '55P03':
    case '57014':
    case '25P03':
      return new ServiceUnavailable('The database was busy and the request timed out; retry.');
    case '57P01':
    case '57P02':
    case '57P03':
    case '53300':
    case '08000':
    case '08001':
    case '08003':
    case '08004':
    case '08006':
      return new ServiceUnavailable('The database is unavailable; retry.');
    default:
      if (
        e.code === 'ECONNREFUSED' ||
        e.code === 'ECONNRESET' ||
        e.code === 'ETIMEDOUT' ||
        e.code === 'EHOSTUNREACH' ||
        e.code === 'ENOTFOUND' ||
        e.code === 'EAI_AGAIN' ||
        e.message === 'Client has encountered a connection error and is not queryable' ||
        e.message === 'timeout exceeded when trying to connect' ||
        e.message === 'Connection terminated unexpectedly' ||
        e.message === 'Connection terminated due to connection timeout'
      )
        return new ServiceUnavailable('The database is unavailable; retry.');
      return undefined;
  }
}
