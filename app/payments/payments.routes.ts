import { type Request, Router } from 'express';
import { callerClaim, callerOf } from '../http/callers.ts';
import { decodeTimeCursor, encodeTimeCursor } from '../http/cursor.ts';
import type { AppDeps } from '../http/deps.ts';
import { idempotencyKeyHeaders, openApiRegistry, problemResponses } from '../http/openapi.ts';
import { parseBody, parseId, parseQuery } from '../http/validation.ts';
import { amountSchema, currencySchema, z } from '../http/zod.ts';
import { idempotencyOptionsFrom, runIdempotent } from '../idempotency/idempotency.ts';
import { idempotencyKeyOf } from '../idempotency/request-identity.ts';
import { isSettled } from './payment.aggregate.ts';
import { requestPayment } from './payment.commands.ts';
import { paymentCreatedTotal } from './payment.metrics.ts';
import {
  findOwnedPayment,
  listPayments,
  listRefunds,
  listSteps,
  type PaymentRow,
  paymentEventsQuery,
} from './payment.repository.ts';
import {
  paymentSchema,
  paymentStatusSchema,
  paymentView,
  refundSchema,
  refundView,
} from './payment.views.ts';
import type { PaymentWaiter } from './payment-waiter.ts';
import { PaymentNotFound, requestRefund } from './refunds.ts';
import type { SagaOptions } from './saga-definition.ts';

const noNul = (s: string) => !s.includes('\u0000');
const createPaymentBody = z
  .strictObject({
    wallet_id: z.uuid(),
    service_id: z.string().min(1).max(128).openapi({ example: 'streaming-premium' }),
    amount: amountSchema,
    currency: currencySchema,
    method: z.literal('balance').optional(),
    description: z.string().max(500).optional(),
    metadata: z
      .record(z.string().min(1).max(64).refine(noNul), z.string().max(500))
      .refine((m) => Object.keys(m).length <= 50, { error: 'at most 50 keys' })
      .optional(),
  })
  .openapi('CreatePayment');

const refundBody = z
  .strictObject({ amount: amountSchema.optional(), reason: z.string().min(1).max(500).optional() })
  .openapi('CreateRefund');

const listQuery = z.strictObject({
  wallet_id: z.uuid().optional(),
  status: paymentStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(300).optional(),
});

const paymentIdParam = z.object({ id: z.uuid() });
const MAX_WAIT_SECONDS = 30;

export function paymentsRouter(deps: AppDeps & { waiter: PaymentWaiter; saga: SagaOptions }): Router {
  const { db, config, waiter, saga } = deps;
  const router = Router();
  const idempotency = idempotencyOptionsFrom(config);
  const notFound = (raw: string) => new PaymentNotFound(raw);

  const claimOf = (req: Request, scope: string) =>
    callerClaim(req, scope, idempotencyKeyOf(req, true) as string);
  const viewOf = async (payment: PaymentRow) =>
    paymentView(payment, await listSteps(db, [payment.id]), await listRefunds(db, [payment.id]));

  router.post('/payments', async (req, res) => {
    const body = parseBody(createPaymentBody, req);
    const ownerId = callerOf(req).ownerId;
    const result = await runIdempotent(db, idempotency, claimOf(req, 'POST /payments'), async (trx) => {
      const payment = await requestPayment(
        trx,
        {
          ownerId,
          walletId: body.wallet_id,
          serviceId: body.service_id,
          amount: body.amount,
          currency: body.currency,
          description: body.description ?? null,
          metadata: body.metadata ?? {},
          traceId: req.traceId,
        },
        saga,
      );
      return { status: 202, body: paymentView(payment, []) };
    });
    if (result.replayed) res.set('Idempotent-Replayed', 'true');
    else paymentCreatedTotal.inc();

    const waitSeconds = preferredWait(req);
    const created = result.body as { id: string };
    if (waitSeconds === undefined) return void res.status(result.status).json(result.body);

    // A wake-up means "re-read": a NOTIFY, or the waiter polling while its connection is down.
    const deadline = Date.now() + waitSeconds * 1000;
    // The response's close, not the request's: the request's has already fired once its body
    // was read, so it would never tell that the client went away.
    let gone = false;
    res.on('close', () => {
      gone = true;
    });
    let payment = await findOwnedPayment(db, ownerId, created.id);
    while (payment && !isSettled(payment.status) && !gone && !waiter.closed && Date.now() < deadline) {
      const waiting = waiter.wait(created.id, deadline - Date.now());
      res.once('close', waiting.cancel);
      // Re-read after registering: a settlement just before the registration is not missed.
      payment = await findOwnedPayment(db, ownerId, created.id);
      if (payment && !isSettled(payment.status)) {
        await waiting.done;
        payment = await findOwnedPayment(db, ownerId, created.id);
      }
      waiting.cancel();
      res.off('close', waiting.cancel);
    }
    if (!payment) throw new PaymentNotFound(created.id);
    res.set('Preference-Applied', `wait=${waitSeconds}`);
    res.status(isSettled(payment.status) ? 200 : 202).json(await viewOf(payment));
  });

  router.get('/payments/:id', async (req, res) => {
    const id = parseId(req.params.id, notFound);
    const payment = await findOwnedPayment(db, callerOf(req).ownerId, id);
    if (!payment) throw new PaymentNotFound(id);
    res.json(await viewOf(payment));
  });

  router.get('/payments', async (req, res) => {
    const query = parseQuery(listQuery, req);
    const before = decodeTimeCursor(query.cursor);
    const rows = await listPayments(db, {
      ownerId: callerOf(req).ownerId,
      walletId: query.wallet_id,
      status: query.status,
      limit: query.limit,
      before,
    });
    const items = rows.slice(0, query.limit);
    const ids = items.map((p) => p.id);
    const [steps, refunds] = await Promise.all([listSteps(db, ids), listRefunds(db, ids)]);
    const last = items.at(-1);
    res.json({
      items: items.map((p) => paymentView(p, steps, refunds)),
      next_cursor: rows.length > query.limit && last ? encodeTimeCursor(last.cursor_at, last.id) : null,
    });
  });

  router.get('/payments/:id/events', async (req, res) => {
    const id = parseId(req.params.id, notFound);
    // One query, filtered by owner: a payment always has its payment.requested, so none is not found.
    const { rows } = await paymentEventsQuery(callerOf(req).ownerId, id).execute(db);
    if (rows.length === 0) throw new PaymentNotFound(id);
    res.json({ items: rows.map((r) => r.envelope) });
  });

  router.post('/payments/:id/refunds', async (req, res) => {
    const paymentId = parseId(req.params.id, notFound);
    const body = parseBody(refundBody, req);
    const ownerId = callerOf(req).ownerId;
    const result = await runIdempotent(
      db,
      idempotency,
      claimOf(req, 'POST /payments/:id/refunds'),
      async (trx) => {
        const refund = await requestRefund(
          trx,
          { ownerId, paymentId, amount: body.amount, reason: body.reason ?? null, traceId: req.traceId },
          saga,
        );
        return { status: 202, body: refundView(refund) };
      },
    );
    if (result.replayed) res.set('Idempotent-Replayed', 'true');
    res.status(result.status).json(result.body);
  });

  return router;
}

/** RFC 7240 `Prefer: wait=N`, capped at 30 s; anything unparseable is ignored, as the RFC says. */
function preferredWait(req: Request): number | undefined {
  const match = /(?:^|[,;\s])wait=(\d{1,6})(?:$|[,;\s])/i.exec(req.get('prefer') ?? '');
  if (!match?.[1]) return undefined;
  return Math.min(Number(match[1]), MAX_WAIT_SECONDS);
}

openApiRegistry.registerPath({
  method: 'post',
  path: '/payments',
  tags: ['payments'],
  summary: 'Request a payment from a wallet; runs as a saga',
  description:
    'Send `Prefer: wait=N` (N <= 30) to hold the answer until the payment settles: 200 when it did, 202 if not.',
  request: {
    headers: idempotencyKeyHeaders,
    body: { content: { 'application/json': { schema: createPaymentBody } } },
  },
  responses: {
    200: {
      description: 'Settled within Prefer: wait',
      content: { 'application/json': { schema: paymentSchema } },
    },
    202: { description: 'Accepted (PENDING)', content: { 'application/json': { schema: paymentSchema } } },
    ...problemResponses(401, 403, 429, 400, 404, 409, 413, 415, 422),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/payments/{id}',
  tags: ['payments'],
  summary: 'Get a payment with its saga steps',
  request: { params: paymentIdParam },
  responses: {
    200: { description: 'The payment', content: { 'application/json': { schema: paymentSchema } } },
    ...problemResponses(401, 429, 400, 404),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/payments',
  tags: ['payments'],
  summary: 'List payments, newest first',
  request: { query: listQuery },
  responses: {
    200: {
      description: 'A page',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(paymentSchema), next_cursor: z.string().nullable() }),
        },
      },
    },
    ...problemResponses(401, 429, 422),
  },
});
openApiRegistry.registerPath({
  method: 'get',
  path: '/payments/{id}/events',
  tags: ['payments'],
  summary: "The payment's events (and the wallet events it caused), oldest first",
  request: { params: paymentIdParam },
  responses: {
    200: {
      description: 'Event envelopes',
      content: {
        'application/json': { schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) },
      },
    },
    ...problemResponses(401, 429, 400, 404),
  },
});
openApiRegistry.registerPath({
  method: 'post',
  path: '/payments/{id}/refunds',
  tags: ['payments'],
  summary: 'Refund a completed payment, partly or fully',
  request: {
    params: paymentIdParam,
    headers: idempotencyKeyHeaders,
    body: { content: { 'application/json': { schema: refundBody } } },
  },
  responses: {
    202: {
      description: 'Refund accepted (PENDING)',
      content: { 'application/json': { schema: refundSchema } },
    },
    ...problemResponses(401, 403, 429, 400, 404, 409, 413, 415, 422),
  },
});
