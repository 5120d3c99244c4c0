import express, { type Express, type RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import { type FieldError, RouteNotFound, UnsupportedMediaType, ValidationFailed } from '../errors.ts';
import { webhooksRouter } from '../gateway/webhooks.routes.ts';
import { useDatabaseForGauges } from '../observability/db-gauges.ts';
import { httpRequestDuration, registry } from '../observability/metrics.ts';
// Registers the job queue's gauges, read from the same database as the others.
import '../observability/queue-gauges.ts';
import { paymentsRouter } from '../payments/payments.routes.ts';
import { walletsRouter } from '../wallets/wallets.routes.ts';
import { adminRouter } from './admin.ts';
import { authenticate, rateLimit, requireScope } from './callers.ts';
import type { ApiDeps } from './deps.ts';
import { healthRouter } from './health.ts';
import { openApiDocument } from './openapi.ts';
import { problemHandler } from './problem.ts';
import { requestIdFrom, traceIdFrom } from './request-context.ts';
import { resumeRequestTrace, spanTraceId, traceRequests } from './trace-requests.ts';
import { findUnfitJson } from './validation.ts';

/** What callers reach with an API key (docs/security.md); the rest is public, signed or admin. */
const CALLER_PATHS = ['/wallets', '/payments'];

/**
 * The HTTP application: cross-cutting concerns once, then one router per resource.
 * Order matters: context and metrics first, then body checks, then routes, then the problem handler.
 */
export function createApp(deps: ApiDeps): Express {
  useDatabaseForGauges(deps.db);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple'); // no nested objects from ?a[b]=c

  app.use(traceRequests(), requestContext());
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const id = requestIdFrom(req as express.Request);
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // The key's prefix and owner, never the key: the Authorization header is not logged.
      customProps: (req) => {
        const { traceId, caller } = req as express.Request;
        return caller
          ? { traceId, keyPrefix: `wpk_${caller.keyPrefix}`, ownerId: caller.ownerId }
          : { traceId };
      },
      autoLogging: { ignore: (req) => req.url === '/metrics' || (req.url ?? '').startsWith('/health') },
      // One line per request is routine (debug; http_request_duration_seconds counts them); a
      // refused request (4xx) is worth a line at info, a failed one (5xx) at error.
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug',
      serializers: { req: (req) => ({ id: req.id, method: req.method, url: req.url }) },
    }),
  );
  app.use(measureDuration());
  // Callers first, before their bodies are even read: without a valid key a request is 401 whatever
  // it carries, and a refused request (401, 403, 429) costs no parsing and changes nothing.
  app.use(CALLER_PATHS, authenticate(deps.db), requireScope(), rateLimit(deps.pool, deps.config));

  app.use(requireJsonBodies());
  app.use(
    express.json({
      limit: '100kb',
      strict: false,
      type: ['application/json', 'application/*+json'],
      // Webhook signatures are over the exact bytes received.
      verify: (req, _res, buf) => {
        (req as express.Request).rawBody = buf;
      },
    }),
  );
  app.use(refuseUnfitJson(), resumeRequestTrace());

  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' } }));

  app.use(healthRouter(deps));
  // The gateway authenticates by signature, operators by the admin token; everyone else by API key.
  app.use(webhooksRouter(deps));
  app.use('/admin', adminRouter(deps));
  app.use(walletsRouter(deps), paymentsRouter(deps));

  app.use((req) => {
    throw new RouteNotFound(req.method, req.path);
  });
  app.use(problemHandler(deps.logger, deps.config.PROBLEM_TYPE_BASE_URL));
  return app;
}

function requestContext(): RequestHandler {
  return (req, res, next) => {
    // The span's trace when tracing is on (the caller's, or a new one), else the caller's or a new id.
    req.traceId = spanTraceId(req) ?? traceIdFrom(req);
    res.setHeader('X-Trace-Id', req.traceId);
    next();
  };
}

function measureDuration(): RequestHandler {
  return (req, res, next) => {
    const end = httpRequestDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      // The route pattern, not the URL: ids in label values would explode the series count.
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      end({ route, status_code: String(res.statusCode) });
    });
    next();
  };
}

/** A request that carries a body must say it is JSON (else 415 UNSUPPORTED_MEDIA_TYPE). */
function requireJsonBodies(): RequestHandler {
  return (req, _res, next) => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (hasBody && !req.is(['application/json', 'application/*+json'])) {
      throw new UnsupportedMediaType(
        `Content-Type ${req.get('content-type') ?? '(none)'} is not supported; send application/json.`,
      );
    }
    next();
  };
}

/** NUL characters and deep nesting, in the body or the query: see findUnfitJson. */
function refuseUnfitJson(): RequestHandler {
  return (req, _res, next) => {
    const problem = prefixed('body', findUnfitJson(req.body)) ?? prefixed('query', findUnfitJson(req.query));
    if (problem) throw new ValidationFailed([problem]);
    next();
  };
}

function prefixed(prefix: string, problem: FieldError | undefined): FieldError | undefined {
  return problem && { ...problem, path: [prefix, problem.path].filter(Boolean).join('.') };
}
