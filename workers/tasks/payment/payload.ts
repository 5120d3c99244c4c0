import { z } from 'zod';

export const paymentPayload = z.object({ paymentId: z.uuid() }).loose();
export const refundPayload = z.object({ paymentId: z.uuid(), refundId: z.uuid() }).loose();
