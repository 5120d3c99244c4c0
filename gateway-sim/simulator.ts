import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import express, { type Express, type Request, type Response } from 'express';
import { z } from 'zod';
import { signPayload } from '../app/gateway/signature.ts';
import type { Logger } from '../app/observability/logger.ts';

/**
 * A stand-in for an external payment gateway with two providers (alpha, beta), as in the API
 * contract: idempotent charges answered asynchronously by signed webhooks, status queries,
 * refunds, and fault injection through /<provider>/_control. State is in memory: this is the
 * outside world, not part of our system.
 */
const controlsSchema = z.strictObject({
  latency_ms: z.number().int().min(0).max(120_000).optional(),
  timeout_rate: z.number().min(0).max(1).optional(),
  error_rate: z.number().min(0).max(1).optional(),
  decline_rate: z.number().min(0).max(1).optional(),
  webhook_delay_ms: z.number().int().min(0).max(600_000).optional(),
  webhook_drop_rate: z.number().min(0).max(1).optional(),
  webhook_duplicate_rate: z.number().min(0).max(1).optional(),
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
  down: false,
};

const chargeSchema = z.object({
  amount: z.number().int().positive(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  reference: z.string().min(1).max(255),
  callback_url: z.url(),
});
const refundSchema = z.object({ charge_id: z.string().min(1), amount: z.number().int().positive() });

interface Charge {
  id: string;
  status: 'pending' | 'succeeded' | 'failed';
  /** Decided when the charge is created; applied (and announced) after webhook_delay_ms. */
  outcome: 'succeeded' | 'failed';
  callback_url: string;
  amount: number;
  currency: string;
  reference: string;
  decline_code: string | null;
  refunded: number;
  created_at: string;
}

interface ProviderState {
  controls: Controls;
  charges: Map<string, Charge>;
  chargeByKey: Map<string, string>;
  refundByKey: Map<string, { id: string; status: 'succeeded'; charge_id: string; amount: number }>;
  stats: { charges: number; webhooksSent: number; webhooksDropped: number; refunds: number; faults: number };
}

export interface SimulatorOptions {
  secrets: Record<string, string>;
  logger: Logger;
  /**
   * Where charges and refunds are kept across restarts (a real gateway does not forget a charge
   * when it restarts). Written before each answer, by write-then-rename. Unset: memory only.
   */
  stateFile?: string;
  /** Webhook delivery retries on non-2xx or network errors (the gateway's own at-least-once). */
  webhookRetries?: number;
}

export function createGatewaySimulator(options: SimulatorOptions): { app: Express; stop(): void } {
  const providers = new Map<string, ProviderState>(
    Object.keys(options.secrets).map((name) => [name, freshState()]),
  );
  const save = () => {
    if (!options.stateFile) return;
    const data = Object.fromEntries(
      [...providers].map(([name, st]) => [
        name,
        {
          charges: [...st.charges.values()],
          chargeByKey: [...st.chargeByKey],
          refundByKey: [...st.refundByKey],
        },
      ]),
    );
    writeFileSync(`${options.stateFile}.tmp`, JSON.stringify(data));
    renameSync(`${options.stateFile}.tmp`, options.stateFile);
  };
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '100kb' }));

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', providers: [...providers.keys()] });
  });

  const provider = (req: Request, res: Response): ProviderState | undefined => {
    const state = providers.get(String(req.params.provider));
    if (!state) res.status(404).json({ error: 'unknown provider' });
    return state;
  };

  /** Applies down/latency/timeout/error faults; returns false when the request was answered (or dropped). */
  async function faults(state: ProviderState, res: Response): Promise<boolean> {
    const c = state.controls;
    if (c.down) {
      state.stats.faults++;
      res.status(503).json({ error: 'provider down' });
      return false;
    }
    if (c.latency_ms > 0) await sleep(c.latency_ms);
    if (Math.random() < c.timeout_rate) {
      state.stats.faults++;
      // Hold the request far beyond any sane client timeout, then drop it.
      later(60_000, () => res.destroy());
      return false;
    }
    if (Math.random() < c.error_rate) {
      state.stats.faults++;
      res.status(500).json({ error: 'injected error' });
      return false;
    }
    return true;
  }

  app.post('/:provider/_control', (req, res) => {
    const state = provider(req, res);
    if (!state) return;
    const parsed = controlsSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    state.controls = { ...state.controls, ...parsed.data };
    res.json({ controls: state.controls, stats: state.stats });
  });

  app.post('/:provider/_control/reset', (req, res) => {
    const state = provider(req, res);
    if (!state) return;
    state.controls = { ...DEFAULTS };
    res.json({ controls: state.controls, stats: state.stats });
  });

  app.get('/:provider/_control', (req, res) => {
    const state = provider(req, res);
    if (state) res.json({ controls: state.controls, stats: state.stats });
  });

  app.post('/:provider/charges', async (req, res) => {
    const name = String(req.params.provider);
    const state = provider(req, res);
    if (!state) return;
    const key = req.get('idempotency-key');
    if (!key) return void res.status(400).json({ error: 'Idempotency-Key required' });
    const parsed = chargeSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    if (!(await faults(state, res))) return;

    const existing = state.chargeByKey.get(key);
    if (existing) {
      const charge = state.charges.get(existing) as Charge;
      return void res.status(202).json({ id: charge.id, status: charge.status });
    }
    const charge: Charge = {
      id: `ch_${randomBytes(12).toString('hex')}`,
      status: 'pending',
      outcome: Math.random() < state.controls.decline_rate ? 'failed' : 'succeeded',
      callback_url: parsed.data.callback_url,
      amount: parsed.data.amount,
      currency: parsed.data.currency,
      reference: parsed.data.reference,
      decline_code: null,
      refunded: 0,
      created_at: new Date().toISOString(),
    };
    state.charges.set(charge.id, charge);
    state.chargeByKey.set(key, charge.id);
    state.stats.charges++;
    save();
    settleLater(name, state, charge);
    res.status(202).json({ id: charge.id, status: charge.status });
  });

  app.get('/:provider/charges/:id', async (req, res) => {
    const state = provider(req, res);
    if (!state) return;
    if (!(await faults(state, res))) return;
    const charge = state.charges.get(String(req.params.id));
    if (!charge) return void res.status(404).json({ error: 'no such charge' });
    const { outcome: _o, callback_url: _c, ...visible } = charge;
    res.json(visible);
  });

  app.post('/:provider/refunds', async (req, res) => {
    const state = provider(req, res);
    if (!state) return;
    const parsed = refundSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ error: z.prettifyError(parsed.error) });
    if (!(await faults(state, res))) return;
    const key = req.get('idempotency-key');
    const previous = key ? state.refundByKey.get(key) : undefined;
    if (previous) return void res.json(previous);
    const charge = state.charges.get(parsed.data.charge_id);
    if (!charge) return void res.status(404).json({ error: 'no such charge' });
    if (charge.status !== 'succeeded')
      return void res.status(409).json({ error: `charge is ${charge.status}` });
    if (charge.refunded + parsed.data.amount > charge.amount) {
      return void res.status(422).json({ error: 'refund exceeds the charge' });
    }
    charge.refunded += parsed.data.amount;
    const refund = {
      id: `re_${randomBytes(12).toString('hex')}`,
      status: 'succeeded' as const,
      charge_id: charge.id,
      amount: parsed.data.amount,
    };
    if (key) state.refundByKey.set(key, refund);
    state.stats.refunds++;
    save();
    res.json(refund);
  });

  /** After webhook_delay_ms the charge reaches its outcome and the gateway announces it. */
  function settleLater(name: string, state: ProviderState, charge: Charge): void {
    later(state.controls.webhook_delay_ms, () => {
      charge.status = charge.outcome;
      charge.decline_code = charge.outcome === 'failed' ? 'card_declined' : null;
      save();
      const { outcome: _o, callback_url: _c, ...visible } = charge;
      const event = {
        event_id: `evt_${randomUUID()}`,
        type: charge.outcome === 'failed' ? 'charge.failed' : 'charge.succeeded',
        charge: visible,
      };
      if (Math.random() < state.controls.webhook_drop_rate) {
        state.stats.webhooksDropped++;
        return;
      }
      const copies = Math.random() < state.controls.webhook_duplicate_rate ? 2 : 1;
      for (let i = 0; i < copies; i++) void deliver(name, state, charge.callback_url, event, 0);
    });
  }

  // Back from a restart: reload what was kept, and settle the charges that were still pending.
  if (options.stateFile && existsSync(options.stateFile)) {
    const data = JSON.parse(readFileSync(options.stateFile, 'utf8')) as Record<
      string,
      {
        charges: Charge[];
        chargeByKey: [string, string][];
        refundByKey: [string, ProviderState['refundByKey'] extends Map<string, infer R> ? R : never][];
      }
    >;
    for (const [name, saved] of Object.entries(data)) {
      const state = providers.get(name);
      if (!state) continue;
      for (const charge of saved.charges) state.charges.set(charge.id, charge);
      state.chargeByKey = new Map(saved.chargeByKey);
      state.refundByKey = new Map(saved.refundByKey);
      for (const charge of state.charges.values())
        if (charge.status === 'pending') settleLater(name, state, charge);
    }
  }

  async function deliver(
    name: string,
    state: ProviderState,
    url: string,
    event: object,
    attempt: number,
  ): Promise<void> {
    const body = JSON.stringify(event);
    const secret = options.secrets[name] as string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'gateway-signature': signPayload(secret, body) },
        body,
        signal: AbortSignal.timeout(5000),
      });
      if (res.ok) {
        state.stats.webhooksSent++;
        return;
      }
      throw new Error(`callback answered ${res.status}`);
    } catch (err) {
      const retries = options.webhookRetries ?? 5;
      if (attempt >= retries) {
        options.logger.warn({ err, url, attempt }, 'webhook delivery abandoned');
        return;
      }
      later(250 * 2 ** attempt, () => void deliver(name, state, url, event, attempt + 1));
    }
  }

  return {
    app,
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

function freshState(): ProviderState {
  return {
    controls: { ...DEFAULTS },
    charges: new Map(),
    chargeByKey: new Map(),
    refundByKey: new Map(),
    stats: { charges: 0, webhooksSent: 0, webhooksDropped: 0, refunds: 0, faults: 0 },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
