import { timestampSchema, z } from '../http/zod.ts';
import type { PaymentRow, PaymentStepRow, RefundRow } from './payment.repository.ts';

export const paymentStatusSchema = z.enum([
  'PENDING',
  'PROCESSING',
  'COMPLETED',
  'REJECTED',
  'FAILED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
]);

export const refundSchema = z
  .object({
    id: z.uuid(),
    payment_id: z.uuid(),
    amount: z.number().int(),
    status: z.enum(['PENDING', 'SUCCEEDED', 'FAILED']),
    failure_reason: z.string().nullable(),
    created_at: timestampSchema,
    completed_at: timestampSchema.nullable(),
  })
  .openapi('Refund');

export const paymentSchema = z
  .object({
    id: z.uuid(),
    wallet_id: z.uuid(),
    service_id: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    method: z.literal('balance'),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    status: paymentStatusSchema,
    failure_reason: z
      .enum(['FRAUD_SUSPECTED', 'INSUFFICIENT_FUNDS', 'GATEWAY_DECLINED', 'GATEWAY_UNAVAILABLE'])
      .nullable(),
    provider: z.enum(['alpha', 'beta']).nullable(),
    refunded_amount: z.number().int(),
    created_at: timestampSchema,
    updated_at: timestampSchema,
    completed_at: timestampSchema.nullable(),
    refunds: z.array(refundSchema),
    steps: z.array(
      z.object({
        name: z.string(),
        status: z.string(),
        attempt: z.number().int(),
        at: timestampSchema,
        detail: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
  })
  .openapi('Payment');

export type PaymentView = z.infer<typeof paymentSchema>;

export function paymentView(p: PaymentRow, steps: PaymentStepRow[], refunds: RefundRow[] = []): PaymentView {
  return {
    id: p.id,
    wallet_id: p.wallet_id,
    service_id: p.service_id,
    amount: p.amount,
    currency: p.currency,
    method: p.method,
    description: p.description,
    metadata: p.metadata,
    status: p.status,
    failure_reason: p.failure_reason,
    provider: p.provider,
    refunded_amount: p.refunded_amount,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
    completed_at: p.completed_at?.toISOString() ?? null,
    refunds: refunds.filter((r) => r.payment_id === p.id).map(refundView),
    steps: steps
      .filter((s) => s.payment_id === p.id)
      .map((s) => ({
        name: s.name,
        status: s.status,
        attempt: s.attempt,
        at: s.at.toISOString(),
        ...(s.detail ? { detail: s.detail } : {}),
      })),
  };
}

export function refundView(r: RefundRow) {
  return {
    id: r.id,
    payment_id: r.payment_id,
    amount: r.amount,
    status: r.status,
    failure_reason: r.failure_reason,
    created_at: r.created_at.toISOString(),
    completed_at: r.completed_at?.toISOString() ?? null,
  };
}
