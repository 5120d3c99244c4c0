import { Router } from 'express';
import type { Config } from '../config.ts';
import type { Provider } from '../db/types.ts';
import { AppError, NotFound } from '../errors.ts';
import type { AppDeps } from '../http/deps.ts';
import { openApiRegistry, problemResponses } from '../http/openapi.ts';
import { parseBody } from '../http/validation.ts';
import { z } from '../http/zod.ts';
import {
  checkChargeMatches,
  findAttemptByChargeId,
  GatewayAnswerMismatch,
  isFinal,
  listAttempts,
  recordDiscovered,
  recordReported,
  recordSucceededAfterAll,
} from '../payments/charge-attempts.ts';
import type { PaymentEvent } from '../payments/payment.aggregate.ts';
import { gatewayAnswerMismatchTotal } from '../payments/payment.metrics.ts';
import { type PaymentRow, recordStep } from '../payments/payment.repository.ts';
import { advancePayment, runPaymentStep } from '../payments/saga.ts';
import { sagaOptionsFrom } from '../payments/saga-definition.ts';
import { verifySignature } from './signature.ts';

export class InvalidSignature extends AppError {
  constructor() {
    super(
      401,
      'INVALID_SIGNATURE',
      'Invalid signature',
      'Gateway-Signature is missing, wrong or older than 300 s.',
    );
  }
}

// The gateway's schema, not ours: unknown fields are tolerated (gateways add fields over time).
const webhookBody = z
  .object({
    event_id: z.string().min(1).max(255),
    type: z.enum(['charge.succeeded', 'charge.failed']),
    charge: z
      .object({
        id: z.string().min(1).max(255),
        reference: z.string().max(255).optional(),
        amount: z.number().int().optional(),
        currency: z.string().max(8).optional(),
        status: z.enum(['pending', 'succeeded', 'failed', 'canceled']),
        decline_code: z.string().max(255).nullable().optional(),
      })
      .loose(),
  })
  .loose()
  .openapi('GatewayWebhook');

/**
 * POST /webhooks/gateway/:provider. Checks the signature and its age first (401, nothing
 * changes); finds the payment (by our attempt's charge id, else by the reference); then, in one
 * saga transaction on it (runPaymentStep): records the gateway's event id (a duplicate is answered
 * 200 and ignored), finds the attempt the charge belongs to, checks amount, currency and reference
 * against the payment (a mismatch is a 422 that changes nothing but the payment's steps), records
 * the outcome and lets the saga move on (app/payments/saga.ts advancePayment). A charge we do not
 * know by id, whose reference is one of our payments, is reconciled: adopted by that payment's
 * unanswered attempt, or recorded as found; a success nobody keeps is refunded (stray money).
 * An unknown reference is a 404 and records nothing.
 */
export function webhooksRouter({ db, config, logger }: AppDeps): Router {
  const router = Router();
  const secrets = secretsOf(config);
  const saga = sagaOptionsFrom(config);

  router.post('/webhooks/gateway/:provider', async (req, res) => {
    const provider = req.params.provider as Provider;
    // Own keys only: `__proto__` or `constructor` must not find Object.prototype's members.
    const secret = Object.hasOwn(secrets, provider) ? secrets[provider] : undefined;
    if (!secret)
      throw new NotFound('PROVIDER_NOT_FOUND', `No gateway provider named ${req.params.provider}.`);
    if (!verifySignature(secret, req.rawBody ?? '', req.get('gateway-signature')))
      throw new InvalidSignature();
    const event = parseBody(webhookBody, req);
    const charge = event.charge;

    let result: { status: 'duplicate' | 'applied'; payment: PaymentRow } | undefined;
    try {
      // Which payment the charge belongs to: ours by its id, or by the reference the gateway echoes.
      const known = await findAttemptByChargeId(db, provider, charge.id);
      const paymentId = known?.payment_id ?? (isUuid(charge.reference) ? charge.reference : undefined);
      result = paymentId
        ? await runPaymentStep(db, paymentId, 'any', async (trx, payment) => {
            const fresh = await trx
              .insertInto('gateway_webhook_events')
              .values({ provider, event_id: event.event_id, type: event.type, charge_id: charge.id })
              .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
              .returning('event_id')
              .executeTakeFirst();
            if (!fresh) return { status: 'duplicate' as const, payment };
            checkChargeMatches(payment, provider, charge);
            const attempts = await listAttempts(trx, payment.id);
            let attempt = attempts.find((a) => a.provider === provider && a.gateway_charge_id === charge.id);
            attempt ??= attempts.find(
              (a) =>
                a.provider === provider &&
                a.idempotency_key !== null &&
                a.gateway_charge_id === null &&
                a.status === 'unknown',
            );
            attempt ??= await recordDiscovered(trx, payment, provider, charge);
            // A success for a charge we recorded as declined or canceled: the money is there after
            // all (the decider then treats it as stray money, refunded at the gateway).
            const contradicted =
              charge.status === 'succeeded' && isFinal(attempt) && attempt.status !== 'succeeded';
            let events: PaymentEvent[] = [];
            if (contradicted) await recordSucceededAfterAll(trx, attempt);
            else events = (await recordReported(trx, attempt, charge, 'webhook')).events;
            const moved = await advancePayment(trx, payment, events, [], 'webhook', saga);
            return { status: 'applied' as const, payment: moved.payment };
          })
        : undefined;
      if (!result)
        throw new NotFound(
          'CHARGE_NOT_FOUND',
          `No ${provider} charge ${charge.id} nor payment ${charge.reference} is known.`,
        );
    } catch (err) {
      if (err instanceof GatewayAnswerMismatch) {
        gatewayAnswerMismatchTotal.inc({ provider, source: 'webhook' });
        logger.error(
          { paymentId: err.paymentId, provider, differences: err.differences },
          'webhook does not match its payment',
        );
        await recordStep(db, {
          paymentId: err.paymentId,
          name: 'gateway_answer',
          status: 'mismatch',
          detail: { provider, source: 'webhook', charge_id: charge.id, differences: err.differences },
        }).catch(() => undefined);
      }
      throw err;
    }
    res.status(200).json({ status: result.status });
  });

  return router;
}

const isUuid = (value: string | undefined): value is string =>
  value !== undefined && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);

function secretsOf(config: Config): Partial<Record<string, string>> {
  return { alpha: config.GATEWAY_ALPHA_SECRET, beta: config.GATEWAY_BETA_SECRET };
}

declare global {
  namespace Express {
    interface Request {
      rawBody?: Buffer;
    }
  }
}

openApiRegistry.registerPath({
  method: 'post',
  path: '/webhooks/gateway/{provider}',
  tags: ['webhooks'],
  summary: 'Charge outcomes from the payment gateway (signed)',
  security: [],
  request: {
    params: z.object({ provider: z.enum(['alpha', 'beta']) }),
    headers: z.object({ 'gateway-signature': z.string().openapi({ example: 't=1732350000,v1=5f2b…' }) }),
    body: { content: { 'application/json': { schema: webhookBody } } },
  },
  responses: {
    200: {
      description: 'Applied (recorded against its attempt) or duplicate (same event_id)',
      content: {
        'application/json': { schema: z.object({ status: z.enum(['applied', 'duplicate']) }) },
      },
    },
    ...problemResponses(400, 401, 404, 413, 415, 422),
  },
});
