import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.ts';
import { tagTransactionWithTrace } from '../db/trace-transaction.ts';
import { IdempotencyInProgress, IdempotencyKeyReused } from '../errors.ts';
import { idempotentReplaysTotal } from '../observability/metrics.ts';

/**
 * Exactly-once commands over HTTP (docs/architecture.md, "Idempotent HTTP commands").
 *
 * A key belongs to its caller's owner and its endpoint (scope): two owners may use the same key.
 *
 * One transaction, one commit: the claim of (owner, scope, key) is the command transaction's first
 * statement, the effects follow, and the stored response is written before the commit. A concurrent
 * request with the same key waits on the unique key until the first one ends: if it committed, the
 * duplicate replays its stored response; if it rolled back (the command failed, the process died),
 * nothing happened and the duplicate runs the command itself. A different body gets 422
 * IDEMPOTENCY_KEY_REUSED. So a stored response means the effect happened, and a crash leaves
 * neither.
 *
 * Claims committed IN_PROGRESS with a lease (written by versions that claimed in a transaction of
 * their own) are still honoured: 409 IDEMPOTENCY_IN_PROGRESS while the lease holds, taken over once
 * it has expired.
 */
export interface IdempotentResponse {
  status: number;
  body: unknown;
  replayed: boolean;
}

export interface IdempotencyOptions {
  leaseSeconds: number;
  retentionHours: number;
}

export function idempotencyOptionsFrom(config: {
  IDEMPOTENCY_LEASE_SECONDS: number;
  IDEMPOTENCY_RETENTION_HOURS: number;
}): IdempotencyOptions {
  return {
    leaseSeconds: config.IDEMPOTENCY_LEASE_SECONDS,
    retentionHours: config.IDEMPOTENCY_RETENTION_HOURS,
  };
}

export interface IdempotencyClaim {
  /** The caller's owner: keys of different owners never meet. */
  owner: string;
  /** The endpoint, e.g. `POST /payments`. */
  scope: string;
  key: string;
  hash: string;
}

export async function runIdempotent(
  db: Db,
  options: IdempotencyOptions,
  claim: IdempotencyClaim,
  command: (trx: Trx) => Promise<{ status: number; body: unknown }>,
): Promise<IdempotentResponse> {
  const token = randomUUID();
  return db.transaction().execute(async (trx) => {
    await tagTransactionWithTrace(trx);
    const claimed = await sql<{ claim_token: string }>`
      insert into idempotency_keys (owner_id, scope, key, request_hash, status, claim_token, locked_until, expires_at)
      values (${claim.owner}, ${claim.scope}, ${claim.key}, ${claim.hash}, 'IN_PROGRESS', ${token},
              now() + make_interval(secs => ${options.leaseSeconds}),
              now() + make_interval(hours => ${options.retentionHours}))
      on conflict (owner_id, scope, key) do update
        set claim_token = excluded.claim_token, locked_until = excluded.locked_until
        where idempotency_keys.status = 'IN_PROGRESS'
          and idempotency_keys.locked_until < now()
          and idempotency_keys.request_hash = excluded.request_hash
      returning claim_token`.execute(trx);
    // The key is taken by a committed request: its answer, read by a fresh statement (READ COMMITTED
    // sees what committed while the insert above waited).
    if (claimed.rows.length === 0) return answerExisting(trx, claim);

    const result = await command(trx);
    await trx
      .updateTable('idempotency_keys')
      .set({
        status: 'COMPLETED',
        response_status: result.status,
        response_body: JSON.stringify(result.body),
        completed_at: sql<Date>`now()`,
      })
      .where('owner_id', '=', claim.owner)
      .where('scope', '=', claim.scope)
      .where('key', '=', claim.key)
      .where('claim_token', '=', token)
      .execute();
    return { ...result, replayed: false };
  });
}

async function answerExisting(db: Db | Trx, claim: IdempotencyClaim): Promise<IdempotentResponse> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status', 'response_status', 'response_body'])
    .where('owner_id', '=', claim.owner)
    .where('scope', '=', claim.scope)
    .where('key', '=', claim.key)
    .executeTakeFirst();
  // Pruned between our insert and this read: the client may simply retry.
  if (!row) throw new IdempotencyInProgress();
  if (row.request_hash !== claim.hash) throw new IdempotencyKeyReused();
  if (row.status !== 'COMPLETED' || row.response_status === null) throw new IdempotencyInProgress();
  idempotentReplaysTotal.inc({ scope: claim.scope });
  return { status: row.response_status, body: row.response_body, replayed: true };
}
