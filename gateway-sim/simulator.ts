import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import { z } from 'zod';
import { signPayload } from '../app/gateway/signature.ts';
import { resumeRequestTrace, traceRequests } from '../app/http/trace-requests.ts';
import type { Logger } from '../app/observability/logger.ts';
import {
  contextFrom,
  currentTraceparent,
  inSpan,
  SpanKind,
  traceCarrier,
} from '../app/observability/tracing.ts';

/**
 * A stand-in for an external payment gateway with two providers (alpha, beta), described in
 * docs/gateway-simulator.md: idempotent charges settled asynchronously and announced by signed webhooks, status queries
 * (by id and by reference), cancellation of pending charges, refunds, and fault injection through
 * /<provider>/_control. This is the outside world, not part of our system.
 *
 * Faults say as much as a real gateway would, no more: only `down` (503, processed:false)
 * guarantees that nothing was done. An injected 500 or a timeout on a call that changes something
 * (charge, cancel, refund) means the work was done in about half of the cases; latency delays the
 * answer, never the work.
 */
const controlsSchema = z.strictObject({
  latency_ms: z.number().int().min(0).max(120_000).optional(),
  timeout_rate: z.number().min(0).max(1).optional(),
  error_rate: z.number().min(0).max(1).optional(),
  decline_rate: z.number().min(0).max(1).optional(),
  webhook_delay_ms: z.number().int().min(0).max(600_000).optional(),
  webhook_drop_rate: z.number().min(0).max(1).optional(),
  webhook_duplicate_rate: z.number().min(0).max(1).optional(),
  refund_decline_rate: z.number().min(0).max(1).optional(),
  // A gateway bug: charge answers (not webhooks, not _control) report the amount off by this much.
  answer_amount_skew: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  // What a real gateway's error pages carry (stack traces, hosts, ids): added as `detail` to the
  // body of every injected 500 and 503. Our side must keep it out of what it serves and publishes.
  error_detail: z.string().max(2000).optional(),
  down: z.boolean().optional(),
});
type Controls = Required<z.infer<typeof controlsSchema>>;

const DEFAULTS: Controls = {
  latency_ms: 0,
  timeout_rate: 0,
  error_rate: 0,
  decline_rate: 0,
  webhook_delay_ms: 20,
  webhook_drop_rate: 0,
  webhook_duplicate_rate: 0,
  refund_decline_rate: 0,
  answer_amount_skew: 0,
  error_detail: '',
  down: false,
};

/** A timed-out request is held this long (past any client timeout), then its socket is destroyed. */
const HOLD_MS = 60_000;
/** Share of injected 500s and timeouts on a changing call where the work was done anyway. */
const WORK_DONE_DESPITE_FAULT = 0.5;

const chargeSchema = z.object({
  amount: z.number().int().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  reference: z.string().min(1).max(255),
  callback_url: z.url(),
});
const refundSchema = z.object({ charge_id: z.string().min(1), amount: z.number().int().positive() });
const listQuerySchema = z.object({ reference: z.string().min(1).max(255) });

type ChargeStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

interface Charge {
  id: string;
  /** The span that created the charge: its webhook is traced as that span's child. */
  traceparent?: string;
  status: ChargeStatus;
  /** Decided when the charge is created; applied (and announced) after webhook_delay_ms. */
  outcome: 'succeeded' | 'failed';
  /** When it settles (created_at + webhook_delay_ms then): kept across restarts. */
  settle_at?: string;
  callback_url: string;
  amount: number;
  currency: string;
  reference: string;
  decline_code: string | null;
  /** Sum of the charge's refunds. */
  refunded: number;
  created_at: string;
  idempotency_key: string;
}

interface Refund {
  id: string;
  status: 'succeeded';
  charge_id: string;
  amount: number;
  created_at: string;
  idempotency_key: string | null;
}

/** One line of the journal; the last record per id wins on replay. */
type JournalRecord =
  | { type: 'charge'; provider: string; charge: Charge }
  | { type: 'refund'; provider: string; refund: Refund };

interface ProviderState {
  name: string;
  controls: Controls;
  charges: Map<string, Charge>;
  chargeByKey: Map<string, string>;
  chargesByReference: Map<string, string[]>;
  refunds: Map<string, Refund>;
  refundByKey: Map<string, string>;
  /** Charges per current status, kept on every change so stats cost nothing to read. */
  counts: Record<ChargeStatus, number>;
  webhooksSent: number;
  webhooksDropped: number;
  faults: number;
}

type Fault = 'timeout' | 'error' | null;

export interface SimulatorOptions {
  secrets: Record<string, string>;
  logger: Logger;
  /**
   * Where charges and refunds are kept across restarts (a real gateway does not forget a charge
   * when it restarts): an append-only journal, one JSON line per created or changed charge or
   * refund, written synchronously before the answer and replayed at start. Unset: memory only.
   */
  stateFile?: string;
  /** When set, /<provider>/_control* need `Authorization: Bearer <controlToken>`. */
  controlToken?: string;
  /** Webhook delivery retries on non-2xx or network errors (the gateway's own at-least-once). */
  webhookRetries?: number;
}

export function createGatewaySimulator(options: SimulatorOptions): { app: Express; stop(): void } {
  const providers = new Map<string, ProviderState>(
    Object.keys(options.secrets).map((name) => [name, freshState(name)]),
  );
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const later = (ms: number, fn: () => void) => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  /** A pause that stop() cancels (the request then never resumes; its socket goes with the server). */
  const pause = (ms: number) =>
    ms > 0 ? new Promise<void>((resolve) => later(ms, resolve)) : Promise.resolve();

  const journal = options.stateFile ? openJournal(options.stateFile) : undefined;

  // ---- state changes: journal first (synchronously), then memory ----

  function applyCharge(st: ProviderState, next: Charge): void {
    const prev = st.charges.get(next.id);
    if (prev) {
      st.counts[prev.status]--;
    } else {
      st.chargeByKey.set(next.idempotency_key, next.id);
      const sameRef = st.chargesByReference.get(next.reference);
      if (sameRef) sameRef.push(next.id);
      else st.chargesByReference.set(next.reference, [next.id]);
    }
    st.counts[next.status]++;
    st.charges.set(next.id, next);
  }

  function applyRefund(st: ProviderState, refund: Refund): void {
    st.refunds.set(refund.id, refund);
    if (refund.idempotency_key) st.refundByKey.set(refund.idempotency_key, refund.id);
  }

  function putCharge(st: ProviderState, next: Charge): void {
    journal?.append([{ type: 'charge', provider: st.name, charge: next }]);
    applyCharge(st, next);
  }

  function createCharge(st: ProviderState, key: string, body: z.infer<typeof chargeSchema>): Charge {
    const charge: Charge = {
      id: `ch_${randomBytes(12).toString('hex')}`,
      status: 'pending',
      outcome: Math.random() < st.controls.decline_rate ? 'failed' : 'succeeded',
      callback_url: body.callback_url,
      amount: body.amount,
      currency: body.currency,
      reference: body.reference,
      decline_code: null,
      refunded: 0,
      created_at: new Date().toISOString(),
      settle_at: new Date(Date.now() + st.controls.webhook_delay_ms).toISOString(),
      idempotency_key: key,
      traceparent: currentTraceparent(),
    };
    putCharge(st, charge);
    settleLater(st, charge);
    return charge;
  }

  function makeRefund(st: ProviderState, charge: Charge, amount: number, key: string | null): Refund {
    const refund: Refund = {
      id: `re_${randomBytes(12).toString('hex')}`,
      status: 'succeeded',
      charge_id: charge.id,
      amount,
      created_at: new Date().toISOString(),
      idempotency_key: key,
    };
    const next: Charge = { ...charge, refunded: charge.refunded + amount };
    // One write for both lines: the refund and the charge's new refunded total.
    journal?.append([
      { type: 'refund', provider: st.name, refund },
      { type: 'charge', provider: st.name, charge: next },
    ]);
    applyRefund(st, refund);
    applyCharge(st, next);
    return refund;
  }

  /** At settle_at (webhook_delay_ms after creation) the charge reaches its outcome and is announced. */
  function settleLater(st: ProviderState, charge: Charge): void {
    const at = charge.settle_at ? Date.parse(charge.settle_at) : Date.now() + st.controls.webhook_delay_ms;
    later(Math.max(0, at - Date.now()), () => settle(st, charge.id));
  }

  function settle(st: ProviderState, id: string): void {
    const charge = st.charges.get(id);
    if (charge?.status !== 'pending') return; // canceled meanwhile: never settles, no webhook
    const next: Charge = {
      ...charge,
      status: charge.outcome,
      decline_code: charge.outcome === 'failed' ? 'card_declined' : null,
    };
    putCharge(st, next);
    const event = {
      event_id: `evt_${randomUUID()}`,
      type: next.status === 'failed' ? 'charge.failed' : 'charge.succeeded',
      charge: chargeView(next),
    };
    if (Math.random() < st.controls.webhook_drop_rate) {
      st.webhooksDropped++;
      return;
    }
    const copies = Math.random() < st.controls.webhook_duplicate_rate ? 2 : 1;
    for (let i = 0; i < copies; i++) void deliver(st, next, event, 0);
  }

  async function deliver(st: ProviderState, charge: Charge, event: object, attempt: number): Promise<void> {
    if (stopped) return;
    const url = charge.callback_url;
    const body = JSON.stringify(event);
    const secret = options.secrets[st.name] as string;
    try {
      const res = await inSpan(
        'webhook POST',
        { kind: SpanKind.CLIENT, parent: contextFrom(charge.traceparent), attributes: { attempt } },
        () =>
          fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'gateway-signature': signPayload(secret, body),
              ...traceCarrier(),
            },
            body,
            signal: AbortSignal.timeout(5000),
          }),
      );
      if (res.ok) {
        st.webhooksSent++;
        return;
      }
      throw new Error(`callback answered ${res.status}`);
    } catch (err) {
      const retries = options.webhookRetries ?? 5;
      if (attempt >= retries) {
        options.logger.warn({ err, url, attempt }, 'webhook delivery abandoned');
        return;
      }
      later(250 * 2 ** attempt, () => void deliver(st, charge, event, attempt + 1));
    }
  }

  // ---- back from a restart: replay the journal, settle what was still pending ----

  if (journal) {
    let records = 0;
    for (const record of journal.replay((line, err) =>
      options.logger.warn({ err, line: line.slice(0, 200) }, 'unreadable journal line skipped'),
    )) {
      const st = providers.get(record.provider);
      if (!st) continue;
      records++;
      if (record.type === 'charge') applyCharge(st, record.charge);
      else applyRefund(st, record.refund);
    }
    for (const st of providers.values()) {
      // The refunds are the truth about what was refunded (a torn last write may have lost the
      // charge line that went with a refund).
      const refunded = new Map<string, number>();
      for (const r of st.refunds.values())
        refunded.set(r.charge_id, (refunded.get(r.charge_id) ?? 0) + r.amount);
      for (const charge of st.charges.values()) {
        charge.refunded = refunded.get(charge.id) ?? 0;
        if (charge.status === 'pending') settleLater(st, charge);
      }
    }
    options.logger.info({ file: options.stateFile, records }, 'gateway journal replayed');
  }

  // ---- HTTP ----

  const app = express();
  app.disable('x-powered-by');
  app.use(traceRequests(), express.json({ limit: '100kb' }), resumeRequestTrace());

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', providers: [...providers.keys()] });
  });

  const provider = (req: Request, res: Response): ProviderState | undefined => {
    const state = providers.get(String(req.params.provider));
    if (!state) res.status(404).json({ error: 'unknown provider' });
    return state;
  };

  /** The provider of a gateway call, unless it is down: then 503 and nothing is done. */
  const open = (req: Request, res: Response): ProviderState | undefined => {
    const st = provider(req, res);
    if (!st) return undefined;
    if (st.controls.down) {
      st.faults++;
      res.status(503).json({ error: 'unavailable', processed: false, ...detailOf(st) });
      return undefined;
    }
    return st;
  };

  /** Whether this call will time out or fail with a 500 (its work may still be done: see doWork). */
  const drawFault = (st: ProviderState): Fault => {
    const c = st.controls;
    const fault = Math.random() < c.timeout_rate ? 'timeout' : Math.random() < c.error_rate ? 'error' : null;
    if (fault) st.faults++;
    return fault;
  };
  const doWork = (fault: Fault) => fault === null || Math.random() < WORK_DONE_DESPITE_FAULT;
  const detailOf = (st: ProviderState) =>
    st.controls.error_detail ? { detail: st.controls.error_detail } : {};

  /** The answer, computed when the work was done, sent after latency_ms, unless a fault replaces it. */
  async function reply(st: ProviderState, res: Response, fault: Fault, status: number, body: unknown) {
    await pause(st.controls.latency_ms);
    if (fault === 'timeout') {
      later(HOLD_MS, () => res.destroy());
      return;
    }
    if (res.destroyed || res.writableEnded) return; // the client has gone; the work stays done
    if (fault === 'error') res.status(500).json({ error: 'internal', ...detailOf(st) });
    else res.status(status).json(body);
  }

  const controlsView = (st: ProviderState) => ({ controls: st.controls, stats: statsView(st) });

  // With a control token (required in production), fault injection and the operator views need it.
  if (options.controlToken) {
    const expected = createHash('sha256').update(options.controlToken).digest();
    app.use('/:provider/_control', (req, res, next) => {
      const given = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
      if (timingSafeEqual(createHash('sha256').update(given).digest(), expected)) return next();
      res.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'unauthorized' });
    });
  }

  app.post('/:provider/_control', (req, res) => {
    const st = provider(req, res);
    if (!st) return;
    const parsed = controlsSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    st.controls = { ...st.controls, ...parsed.data };
    res.json(controlsView(st));
  });

  app.post('/:provider/_control/reset', (req, res) => {
    const st = provider(req, res);
    if (!st) return;
    st.controls = { ...DEFAULTS };
    res.json(controlsView(st));
  });

  app.get('/:provider/_control', (req, res) => {
    const st = provider(req, res);
    if (st) res.json(controlsView(st));
  });

  /**
   * Operator view: every charge of the provider, or those of one `?reference=` (tests reconcile
   * money against it; chaos watches for a charge made whose answer is still on its way). No faults.
   */
  app.get('/:provider/_control/charges', (req, res) => {
    const st = provider(req, res);
    if (!st) return;
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    const charges =
      reference === undefined
        ? [...st.charges.values()]
        : (st.chargesByReference.get(reference) ?? []).flatMap((id) => st.charges.get(id) ?? []);
    res.json({ items: charges.map(chargeView) });
  });

  app.post('/:provider/charges', async (req, res) => {
    const st = open(req, res);
    if (!st) return;
    const key = req.get('idempotency-key');
    if (!key) return void res.status(400).json({ error: 'Idempotency-Key required' });
    const parsed = chargeSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    const existingId = st.chargeByKey.get(key);
    const existing = existingId ? st.charges.get(existingId) : undefined;
    if (
      existing &&
      (existing.amount !== parsed.data.amount ||
        existing.currency !== parsed.data.currency ||
        existing.reference !== parsed.data.reference)
    ) {
      return void res.status(422).json({ error: 'idempotency key reused with a different request' });
    }
    const fault = drawFault(st);
    const charge = existing ?? (doWork(fault) ? createCharge(st, key, parsed.data) : undefined);
    await reply(st, res, fault, 202, charge && answered(st, charge));
  });

  app.get('/:provider/charges', async (req, res) => {
    const st = open(req, res);
    if (!st) return;
    const parsed = listQuerySchema.safeParse(req.query);
    if (!parsed.success) return void res.status(400).json({ error: 'query parameter reference required' });
    const fault = drawFault(st);
    const ids = st.chargesByReference.get(parsed.data.reference) ?? [];
    const items = ids.flatMap((id) => {
      const charge = st.charges.get(id);
      return charge ? [answered(st, charge)] : [];
    });
    await reply(st, res, fault, 200, { items });
  });

  app.get('/:provider/charges/:id', async (req, res) => {
    const st = open(req, res);
    if (!st) return;
    const fault = drawFault(st);
    const charge = st.charges.get(String(req.params.id));
    if (!charge) return void (await reply(st, res, fault, 404, { error: 'no such charge' }));
    await reply(st, res, fault, 200, answered(st, charge));
  });

  app.post('/:provider/charges/:id/cancel', async (req, res) => {
    const st = open(req, res);
    if (!st) return;
    const fault = drawFault(st);
    let charge = st.charges.get(String(req.params.id));
    if (!charge) return void (await reply(st, res, fault, 404, { error: 'no such charge' }));
    if (charge.status === 'pending' && doWork(fault)) {
      charge = { ...charge, status: 'canceled' };
      putCharge(st, charge); // the settle timer finds it canceled and does nothing
    }
    const settled = charge.status === 'succeeded' || charge.status === 'failed';
    await reply(st, res, fault, settled ? 409 : 200, { id: charge.id, status: charge.status });
  });

  app.post('/:provider/refunds', async (req, res) => {
    const st = open(req, res);
    if (!st) return;
    const parsed = refundSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    const key = req.get('idempotency-key') || null;
    const previousId = key ? st.refundByKey.get(key) : undefined;
    const previous = previousId ? st.refunds.get(previousId) : undefined;
    if (previous) {
      if (previous.charge_id !== parsed.data.charge_id || previous.amount !== parsed.data.amount) {
        return void res.status(422).json({ error: 'idempotency key reused with a different request' });
      }
      return void (await reply(st, res, drawFault(st), 200, refundView(previous)));
    }
    const charge = st.charges.get(parsed.data.charge_id);
    if (!charge) return void res.status(404).json({ error: 'no such charge' });
    if (charge.status !== 'succeeded') {
      return void res.status(409).json({ error: `charge is ${charge.status}` });
    }
    if (charge.refunded + parsed.data.amount > charge.amount) {
      return void res.status(422).json({ error: 'refund exceeds the charge' });
    }
    const fault = drawFault(st);
    if (!doWork(fault))
      return void (await reply(st, res, fault, 500, { error: 'internal', ...detailOf(st) }));
    if (Math.random() < st.controls.refund_decline_rate) {
      return void (await reply(st, res, fault, 422, { error: 'refund_declined', processed: false }));
    }
    const refund = makeRefund(st, charge, parsed.data.amount, key);
    await reply(st, res, fault, 200, refundView(refund));
  });

  return {
    app,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      journal?.close();
    },
  };
}

function freshState(name: string): ProviderState {
  return {
    name,
    controls: { ...DEFAULTS },
    charges: new Map(),
    chargeByKey: new Map(),
    chargesByReference: new Map(),
    refunds: new Map(),
    refundByKey: new Map(),
    counts: { pending: 0, succeeded: 0, failed: 0, canceled: 0 },
    webhooksSent: 0,
    webhooksDropped: 0,
    faults: 0,
  };
}

function statsView(st: ProviderState) {
  return {
    charges: st.charges.size,
    succeeded: st.counts.succeeded,
    failed: st.counts.failed,
    canceled: st.counts.canceled,
    refunds: st.refunds.size,
    webhooks_sent: st.webhooksSent,
    webhooks_dropped: st.webhooksDropped,
    faults: st.faults,
  };
}

/** A charge as an answer shows it: with the answer_amount_skew fault, a wrong amount. */
function answered(st: { controls: Controls }, c: Charge) {
  const view = chargeView(c);
  return { ...view, amount: view.amount + st.controls.answer_amount_skew };
}

/** What the gateway shows of a charge (not the decided outcome, the callback or the key). */
function chargeView(c: Charge) {
  return {
    id: c.id,
    status: c.status,
    amount: c.amount,
    currency: c.currency,
    reference: c.reference,
    decline_code: c.decline_code,
    refunded: c.refunded,
    created_at: c.created_at,
  };
}

function refundView(r: Refund) {
  return { id: r.id, status: r.status, charge_id: r.charge_id, amount: r.amount };
}

/**
 * The append-only journal: one JSON line per record, appended with a single synchronous write
 * (constant cost per change, never a rewrite of the whole state).
 */
export function openJournal(file: string, chunkBytes = 1 << 20) {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a+');
  const size = fstatSync(fd).size;
  // A crash in the middle of a write leaves a torn last line: end it so the next record starts clean.
  if (size > 0) {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] !== 0x0a) writeSync(fd, '\n');
  }
  let closed = false;
  return {
    /**
     * The records, read a chunk at a time: a journal of a long run (a day at 10 payments/s is some
     * 800 MB) is never one string, which Node could not hold past about 512 MB.
     */
    *replay(onBadLine: (line: string, err: unknown) => void): Generator<JournalRecord> {
      const buffer = Buffer.alloc(chunkBytes);
      let carry = Buffer.alloc(0);
      let position = 0;
      const parse = function* (line: string) {
        if (!line.trim()) return;
        try {
          yield JSON.parse(line) as JournalRecord;
        } catch (err) {
          onBadLine(line, err);
        }
      };
      for (;;) {
        const read = readSync(fd, buffer, 0, chunkBytes, position);
        if (read === 0) break;
        position += read;
        const data = Buffer.concat([carry, buffer.subarray(0, read)]);
        let start = 0;
        for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
          yield* parse(data.toString('utf8', start, end));
          start = end + 1;
        }
        carry = Buffer.from(data.subarray(start));
      }
      yield* parse(carry.toString('utf8'));
    },
    append(records: JournalRecord[]): void {
      writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    },
    close(): void {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}
