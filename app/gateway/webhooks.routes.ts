import { Router } from 'express';
import type { Config } from '../config.ts';
import type { Provider } from '../db/types.ts';
import { AppError, NotFound } from '../errors.ts';
import type { AppDeps } from '../http/deps.ts';
import { openApiRegistry, problemResponses } from '../http/openapi.ts';
import { parseBody } from '../http/validation.ts';
import { z } from '../http/zod.ts';
import { observeSettlement } from '../payments/payment.metrics.ts';
import { findChargeByGatewayId, lockPaymentById } from '../payments/payment.repository.ts';
import { applyChargeOutcome } from '../payments/saga.ts';
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
        reference: z.string().optional(),
        status: z.enum(['pending', 'succeeded', 'failed']),
        decline_code: z.string().max(255).nullable().optional(),
      })
      .loose(),
  })
  .loose()
  .openapi('GatewayWebhook');

/**
 * POST /webhooks/gateway/:provider. Checks the signature and its age first (401, nothing
 * changes); then, in one transaction: records the gateway's event id (a duplicate is answered
 * 200 and ignored), applies the outcome to the payment and moves the saga on. An unknown charge
 * is a 404 and records nothing, so the gateway's retry can succeed once our side committed.
 */
export function webhooksRouter({ db, config }: AppDeps): Router {
  const router = Router();
  const secrets = secretsOf(config);

  router.post('/webhooks/gateway/:provider', async (req, res) => {
    const provider = req.params.provider as Provider;
    const secret = secrets[provider];
    if (!secret)
      throw new NotFound('PROVIDER_NOT_FOUND', `No gateway provider named ${req.params.provider}.`);
    if (!verifySignature(secret, req.rawBody ?? '', req.get('gateway-signature')))
      throw new InvalidSignature();
    const event = parseBody(webhookBody, req);

    const result = await db.transaction().execute(async (trx) => {
      const fresh = await trx
        .insertInto('gateway_webhook_events')
        .values({ provider, event_id: event.event_id, type: event.type, charge_id: event.charge.id })
        .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
        .returning('event_id')
        .executeTakeFirst();
      if (!fresh) return { status: 'duplicate' as const };
      const charge = await findChargeByGatewayId(trx, provider, event.charge.id);
      if (!charge)
        throw new NotFound('CHARGE_NOT_FOUND', `No ${provider} charge ${event.charge.id} is known (yet).`);
      const payment = await lockPaymentById(trx, charge.payment_id);
      if (payment?.saga_step !== 'charge_requested' || payment.provider !== provider) {
        return { status: 'ignored' as const }; // settled already (by a poll), or not this charge's turn
      }
      const outcome =
        event.type === 'charge.succeeded'
          ? ({ status: 'succeeded' } as const)
          : ({ status: 'failed', declineCode: event.charge.decline_code ?? null } as const);
      const settled = await applyChargeOutcome(trx, payment, charge, outcome, 'webhook');
      return { status: 'applied' as const, settled };
    });
    if (result.status === 'applied') observeSettlement(result.settled);
    res.status(200).json({ status: result.status });
  });

  return router;
}

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
  request: {
    params: z.object({ provider: z.enum(['alpha', 'beta']) }),
    headers: z.object({ 'gateway-signature': z.string().openapi({ example: 't=1732350000,v1=5f2b…' }) }),
    body: { content: { 'application/json': { schema: webhookBody } } },
  },
  responses: {
    200: {
      description: 'Applied, ignored (already settled) or duplicate (same event_id)',
      content: {
        'application/json': { schema: z.object({ status: z.enum(['applied', 'ignored', 'duplicate']) }) },
      },
    },
    ...problemResponses(401, 404, 422),
  },
});
