import { randomBytes, randomUUID } from 'node:crypto';
import type { Request } from 'express';

/**
 * The W3C trace id of a request: taken from an incoming `traceparent` header when valid, otherwise
 * new. It is written into every event the request causes, so a payment can be followed from the
 * HTTP call to the Kafka message.
 */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function traceIdFrom(req: Request): string {
  const header = req.get('traceparent');
  const match = header ? TRACEPARENT.exec(header.trim()) : null;
  if (match?.[1] && !/^0+$/.test(match[1])) return match[1];
  return randomBytes(16).toString('hex');
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function requestIdFrom(req: Request): string {
  const header = req.get('x-request-id');
  return header && REQUEST_ID.test(header) ? header : randomUUID();
}

declare global {
  namespace Express {
    interface Request {
      traceId: string;
    }
  }
}
