import { sql } from 'kysely';
import { currentTraceparent } from '../observability/tracing.ts';
import type { Trx } from './database.ts';

/**
 * Names the active span in the transaction (the transaction-local setting app.traceparent), so the
 * outbox rows it writes carry it in their Kafka headers (outbox__write) and the relay's publish
 * joins the trace. One statement, only when tracing is on.
 */
export async function tagTransactionWithTrace(trx: Trx): Promise<void> {
  const traceparent = currentTraceparent();
  if (traceparent) await sql`select set_config('app.traceparent', ${traceparent}, true)`.execute(trx);
}
