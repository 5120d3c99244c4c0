import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { type Selectable, sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { ApiKeyScope, ApiKeyTable } from '../db/types.ts';

/**
 * API keys (docs/security.md). A key is `wpk_<prefix>_<secret>`: the prefix (8 hex
 * characters) is shown in lists and logs so that support can tell keys apart; the secret is 192
 * random bits. Only the SHA-256 of the whole key is stored, and a request's key is found by that
 * hash in SQL: no secret is ever compared in application code, and a database dump holds none.
 * A fast hash is enough because the key is random, not a password: there is nothing to guess.
 */
export type ApiKeyRow = Selectable<ApiKeyTable>;

/** Who is calling: what a valid key grants. */
export interface Caller {
  keyId: string;
  keyPrefix: string;
  ownerId: string;
  scopes: ApiKeyScope[];
}

const KEY_FORMAT = /^wpk_([0-9a-f]{8})_([A-Za-z0-9_-]{32})$/;

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export async function createApiKey(
  db: Db,
  input: { ownerId: string; scopes?: ApiKeyScope[]; description?: string | null },
): Promise<{ key: string; row: ApiKeyRow }> {
  const scopes: ApiKeyScope[] = input.scopes ?? ['read', 'write'];
  // 32 bits of prefix: among many keys two may share one (unique in the table); a new one is drawn.
  for (let attempt = 1; ; attempt++) {
    const prefix = randomBytes(4).toString('hex');
    const key = `wpk_${prefix}_${randomBytes(24).toString('base64url')}`;
    try {
      const row = await db
        .insertInto('api_keys')
        .values({
          id: randomUUID(),
          prefix,
          key_hash: hashApiKey(key),
          owner_id: input.ownerId,
          scopes: sql<ApiKeyScope[]>`${`{${scopes.join(',')}}`}::text[]`,
          description: input.description ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { key, row };
    } catch (err) {
      const constraint = (err as { constraint?: string }).constraint;
      if (constraint !== 'api_key_prefix_unique' || attempt >= 5) throw err;
    }
  }
}

/**
 * The caller a key stands for, or undefined when the key is unknown, malformed or revoked. Read on
 * every request (no cache): a revocation holds at once on every API process. last_used_at is
 * written at most once a minute per key, so authentication is not a write per request.
 */
export async function authenticateApiKey(db: Db, key: string): Promise<Caller | undefined> {
  if (!KEY_FORMAT.test(key)) return undefined;
  const { rows } = await sql<{ id: string; prefix: string; owner_id: string; scopes: ApiKeyScope[] }>`
    with found as (
      select id, prefix, owner_id, scopes, last_used_at from api_keys
       where key_hash = ${hashApiKey(key)} and revoked_at is null
    ), touched as (
      -- One request a minute writes it; concurrent ones skip the row another is writing.
      update api_keys set last_used_at = now()
       where id = (select k.id from api_keys k join found f on f.id = k.id
                    where k.last_used_at is null or k.last_used_at < now() - interval '1 minute'
                    for update of k skip locked)
    )
    select id, prefix, owner_id, scopes from found`.execute(db);
  const row = rows[0];
  return row && { keyId: row.id, keyPrefix: row.prefix, ownerId: row.owner_id, scopes: row.scopes };
}

export function listApiKeys(db: Db, ownerId?: string): Promise<ApiKeyRow[]> {
  let query = db.selectFrom('api_keys').selectAll();
  if (ownerId) query = query.where('owner_id', '=', ownerId);
  return query.orderBy('created_at', 'desc').orderBy('id').execute();
}

/** Revokes every active key of `ownerId` with this description but `keepId`; how many. */
export async function revokeApiKeysLike(
  db: Db,
  ownerId: string,
  description: string,
  keepId?: string,
): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    update api_keys set revoked_at = now()
     where owner_id = ${ownerId} and description = ${description} and revoked_at is null
       and id is distinct from ${keepId ?? null}::uuid
    returning id`.execute(db);
  return rows.length;
}

/** Revokes the key; true when it existed (revoking twice is not an error, the first time stays). */
export async function revokeApiKey(db: Db, id: string): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    update api_keys set revoked_at = coalesce(revoked_at, now()) where id = ${id}::uuid returning id`.execute(
    db,
  );
  return rows.length > 0;
}

/** A key as lists show it: everything but the secret, which is not stored. */
export function apiKeyView(row: ApiKeyRow) {
  return {
    id: row.id,
    prefix: `wpk_${row.prefix}`,
    owner_id: row.owner_id,
    scopes: row.scopes,
    description: row.description,
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: row.last_used_at ? new Date(row.last_used_at).toISOString() : null,
    revoked_at: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
  };
}
