import { signPayload } from '../../app/gateway/signature.ts';
import { request } from './http.ts';

/** The gateway simulator's own records, for tests that check money at the gateway. */
export interface SimCharge {
  id: string;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
  amount: number;
  currency: string;
  reference: string;
  refunded: number;
}

export async function chargesFor(
  gatewayUrl: string,
  provider: string,
  reference: string,
): Promise<SimCharge[]> {
  const res = await fetch(`${gatewayUrl}/${provider}/charges?reference=${encodeURIComponent(reference)}`);
  if (!res.ok) throw new Error(`lookup at ${provider}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { items: SimCharge[] }).items;
}

export async function allCharges(gatewayUrl: string, provider: string): Promise<SimCharge[]> {
  const res = await fetch(`${gatewayUrl}/${provider}/_control/charges`);
  if (!res.ok) throw new Error(`charges of ${provider}: ${res.status}`);
  return ((await res.json()) as { items: SimCharge[] }).items;
}

/** The simulator's counters for a provider (gateway-sim/simulator.ts statsView): compare as differences. */
export interface SimStats {
  charges: number;
  succeeded: number;
  failed: number;
  canceled: number;
  refunds: number;
  webhooks_sent: number;
  webhooks_dropped: number;
  /** Requests the provider refused with a fault (down, 5xx, ...). */
  faults: number;
}

export async function simStats(gatewayUrl: string, provider: string): Promise<SimStats> {
  return ((await (await fetch(`${gatewayUrl}/${provider}/_control`)).json()) as { stats: SimStats }).stats;
}

/** Money the gateway keeps for a payment: succeeded charges, less what was refunded, across providers. */
export async function keptAtGateway(gatewayUrl: string, paymentId: string) {
  const charges = [
    ...(await chargesFor(gatewayUrl, 'alpha', paymentId)),
    ...(await chargesFor(gatewayUrl, 'beta', paymentId)),
  ];
  const succeeded = charges.filter((c) => c.status === 'succeeded');
  return {
    charges,
    succeeded: succeeded.length,
    kept: succeeded.reduce((sum, c) => sum + c.amount - c.refunded, 0),
    unrefunded: succeeded.filter((c) => c.refunded < c.amount).length,
  };
}

/** Posts a webhook signed with the provider's secret, as the gateway would (no API key: it is signed). */
export async function sendWebhook(apiUrl: string, provider: string, secret: string, event: unknown) {
  const body = JSON.stringify(event);
  return request(apiUrl, 'POST', `/webhooks/gateway/${provider}`, {
    rawBody: body,
    key: null,
    headers: { 'content-type': 'application/json', 'gateway-signature': signPayload(secret, body) },
  });
}
