import type { Context } from '@opentelemetry/api';
import type { Request, RequestHandler } from 'express';
import {
  contextFrom,
  SpanKind,
  SpanStatusCode,
  trace,
  traceContext,
  tracer,
  tracingEnabled,
} from '../observability/tracing.ts';

/**
 * A SERVER span per request, a child of the caller's `traceparent` when it sent one; named after
 * the route pattern once routing matched it (ids in span names would make every name unique).
 * With tracing off it does nothing.
 */
export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    // Scrapes and probes (every few seconds, from Prometheus and the orchestrator) are not traced:
    // they would bury the payments' traces in the collector.
    if (!tracingEnabled() || req.path === '/metrics' || req.path.startsWith('/health')) return next();
    const parent = contextFrom(req.get('traceparent'), traceContext.active());
    const span = tracer.startSpan(
      req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    req.traceContext = ctx;
    res.once('close', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : undefined;
      if (route) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    traceContext.with(ctx, next);
  };
}

/**
 * Body parsers call `next` from the request stream's events, outside the context the request began
 * in: this puts the request's span back as the active one for the handlers after them.
 */
export function resumeRequestTrace(): RequestHandler {
  return (req, _res, next) => (req.traceContext ? traceContext.with(req.traceContext, next) : next());
}

/** The trace id of the request's span when tracing is on. */
export function spanTraceId(req: Request): string | undefined {
  const span = req.traceContext && trace.getSpanContext(req.traceContext);
  return span && trace.isSpanContextValid(span) ? span.traceId : undefined;
}

declare global {
  namespace Express {
    interface Request {
      /** The request's span context (set when tracing is on). */
      traceContext?: Context;
    }
  }
}
