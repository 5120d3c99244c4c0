import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, stopTracing } from '../app/observability/tracing.ts';
import { idem, request } from './helpers/http.ts';
import { consumeUntil } from './helpers/kafka.ts';
import { waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * One payment is one trace across every role. The API runs in this process and exports to an
 * in-memory exporter; the worker, the relay and the gateway simulator are processes of their own and
 * export over OTLP/HTTP (JSON) to a collector kept in this test's memory.
 */

interface CollectedSpan {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

/** An OTLP/HTTP traces endpoint that keeps what it is sent. */
async function startMemoryCollector() {
  const spans: CollectedSpan[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: {
            spans: { name: string; kind: number; traceId: string; spanId: string; parentSpanId?: string }[];
          }[];
        }[];
      };
      for (const rs of parsed.resourceSpans) {
        const service =
          rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? 'unknown';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ service, ...s });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

function fromMemory(span: ReadableSpan): CollectedSpan {
  return {
    service: 'api',
    name: span.name,
    // The SDK's SpanKind counts from 0 (INTERNAL); OTLP's from 1.
    kind: span.kind + 1,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
  };
}

describe('a payment traced across API, worker, gateway, webhook and relay', () => {
  let system: TestSystem;
  let collector: Awaited<ReturnType<typeof startMemoryCollector>>;
  const memory = new InMemorySpanExporter();

  beforeAll(async () => {
    collector = await startMemoryCollector();
    startTracing({ service: 'api', exporter: memory });
    system = await startSystem({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }, { workers: 1, relays: 1 });
  });
  afterAll(async () => {
    await system?.close();
    await stopTracing();
    await collector?.close();
  });

  it('joins every role in one trace, each span a child of one in the trace, the Kafka message carrying it', async () => {
    const walletId = await system.newWallet(10_000);
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const created = await request(system.api.baseUrl, 'POST', '/payments', {
      body: { wallet_id: walletId, service_id: 'svc-trace', amount: 1_250, currency: 'USD' },
      headers: { ...idem(`trace-${traceId}`), traceparent: `00-${traceId}-${callerSpanId}-01` },
    });
    expect(created.status).toBe(202);
    expect(created.headers.get('x-trace-id')).toBe(traceId);
    const paymentId = created.body.id as string;
    expect((await system.waitSettled(paymentId)).status).toBe('COMPLETED');

    // The completion's message on Kafka continues the trace: its traceparent names the relay's span.
    const messages = await consumeUntil(system.brokers as string, (ms) =>
      ms.some((m) => m.key === paymentId && m.value.event_type === 'payment.completed'),
    );
    const completed = messages.find((m) => m.key === paymentId && m.value.event_type === 'payment.completed');
    expect(completed?.headers.trace_id).toBe(traceId);
    expect(completed?.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const trace = () =>
      [
        ...memory.getFinishedSpans().map(fromMemory),
        ...collector.spans.filter((s) => s.traceId === traceId),
      ].filter((s) => s.traceId === traceId);
    const has = (service: string, kind: number, name: RegExp) =>
      trace().some((s) => s.service === service && s.kind === kind && name.test(s.name));
    const publishOf = (spanId: string) =>
      trace().some((s) => s.service === 'relay' && s.spanId === spanId && s.kind === SPAN_KIND.PRODUCER);
    await waitFor(
      'spans from every role',
      async () =>
        has('api', SPAN_KIND.SERVER, /^POST \/payments$/) &&
        has('worker', SPAN_KIND.CONSUMER, /^payment__fraud_check$/) &&
        has('worker', SPAN_KIND.CLIENT, /^gateway POST \/alpha\/charges$/) &&
        has('gateway-sim', SPAN_KIND.SERVER, /^POST /) &&
        has('gateway-sim', SPAN_KIND.CLIENT, /^webhook POST$/) &&
        has('api', SPAN_KIND.SERVER, /^POST \/webhooks\//) &&
        publishOf(completed?.headers.traceparent?.split('-')[2] as string),
      20_000,
    );

    // One tree: every span's parent is in the trace, or is the caller's span the request named.
    const spans = trace();
    const ids = new Set([callerSpanId, ...spans.map((s) => s.spanId)]);
    const orphans = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    expect(orphans, JSON.stringify(orphans)).toEqual([]);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['api', 'worker', 'gateway-sim', 'relay']));

    // The webhook's request at the API is the child of the simulator's delivery, which is the
    // child of the charge request it answers, which the worker made.
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const webhook = spans.find((s) => s.service === 'api' && /^POST \/webhooks\//.test(s.name));
    const delivery = byId.get(webhook?.parentSpanId as string);
    expect(delivery).toMatchObject({ service: 'gateway-sim', name: 'webhook POST' });
    const chargeServer = byId.get(delivery?.parentSpanId as string);
    expect(chargeServer).toMatchObject({ service: 'gateway-sim', kind: SPAN_KIND.SERVER });
    expect(byId.get(chargeServer?.parentSpanId as string)).toMatchObject({
      service: 'worker',
      kind: SPAN_KIND.CLIENT,
    });
  });
});
