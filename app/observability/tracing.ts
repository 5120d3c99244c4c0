import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/**
 * OpenTelemetry traces across the saga. Off unless an OTLP endpoint is configured: then the API is
 * the SDK's no-op and nothing here costs more than a function call. On, one payment is one trace:
 * the HTTP request, each job (its `traceparent` travels in the job payload), the gateway call and
 * the simulator's webhook (a `traceparent` header each way), and the relay's publish (the
 * `traceparent` the writing transaction left in the outbox row's Kafka headers).
 */
export const tracer = trace.getTracer('wallet-payments');

let provider: TracerProvider | undefined;

export interface TracingOptions {
  /** service.name of this role's spans. */
  service: string;
  /** OTLP/HTTP traces endpoint (…/v1/traces); tracing is off without it (and without `exporter`). */
  endpoint?: string;
  /** Tests: spans go here instead of an OTLP endpoint. */
  exporter?: SpanExporter;
}

/** Where this process sends its spans, from the OTLP variables' usual meaning; none: tracing off. */
export function tracesEndpoint(config: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
}): string | undefined {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/** Registers the SDK for this process when tracing is configured; returns whether it is on. */
export function startTracing(options: TracingOptions): boolean {
  const exporter =
    options.exporter ?? (options.endpoint ? new OTLPTraceExporter({ url: options.endpoint }) : undefined);
  if (!exporter || provider) return provider !== undefined;
  provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.service }),
    // Every payment is recorded, whatever a caller's traceparent says about sampling: a caller
    // sending flags 00 would otherwise switch tracing off for the whole saga it starts.
    sampler: new ParentBasedSampler({
      root: new AlwaysOnSampler(),
      remoteParentNotSampled: new AlwaysOnSampler(),
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 500 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return true;
}

/** Exports what is still buffered (a role calls it when it stops). */
export async function stopTracing(): Promise<void> {
  const stopping = provider;
  provider = undefined;
  await stopping?.shutdown().catch(() => {});
}

export const tracingEnabled = () => provider !== undefined;

/** What `inSpan` hands its function while tracing is off: a span that records nothing. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The W3C `traceparent` of the active span (of `ctx`), when tracing is on and a span is active. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  if (!provider) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a `traceparent` (a header, a job payload field) names as parent; the root when none. */
export function contextFrom(traceparent: unknown, base: Context = context.active()): Context {
  if (typeof traceparent !== 'string') return base;
  return propagation.extract(base, { traceparent });
}

/**
 * The active span as a W3C carrier, `{ traceparent }`, for what goes to the next process: request
 * headers, a job's payload (empty when tracing is off or no span is active).
 */
export function traceCarrier(): { traceparent?: string } {
  const traceparent = currentTraceparent();
  return traceparent ? { traceparent } : {};
}

/**
 * Runs `fn` in a new span (a child of `parent`, by default the active one), ending it when `fn`
 * settles and marking it failed when `fn` throws.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; parent?: Context; attributes?: Record<string, string | number | boolean> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  if (!provider) return fn(NO_SPAN);
  const span = tracer.startSpan(name, { kind: options.kind, attributes: options.attributes }, options.parent);
  try {
    return await context.with(trace.setSpan(options.parent ?? context.active(), span), () => fn(span));
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export { context as traceContext, SpanKind, SpanStatusCode, trace };
