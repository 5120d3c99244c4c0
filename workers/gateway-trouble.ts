import type { Logger as GraphileLogger } from 'graphile-worker';

/**
 * What the gateway or the network said when a call failed (its error page, a socket error) is
 * logged here and nowhere else, with the payment, its trace id and the job (graphile-worker's
 * job logger carries the job id): payment steps, events and refunds record only the `reason`,
 * which is safe to publish ("gateway answered 503", "timed out").
 */
export function logGatewayTrouble(
  logger: GraphileLogger,
  context: { call: string; provider: string; paymentId: string; traceId?: string },
  trouble: { reason: string; detail?: string },
): void {
  logger.warn(`${context.call} at ${context.provider} for payment ${context.paymentId}: ${trouble.reason}`, {
    ...context,
    reason: trouble.reason,
    ...(trouble.detail ? { detail: trouble.detail } : {}),
  });
}
