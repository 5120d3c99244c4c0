-- migrate:up
-- Callers (docs/security.md): API keys that act for an owner, payments that carry their wallet's
-- owner, idempotency keys scoped by owner, and the rate limiter's shared counters.

-- A key is `wpk_<prefix>_<secret>`; only its SHA-256 is stored (the key has 192 random bits, so a
-- fast hash cannot be brute-forced back). A request's key is found by this hash, in SQL.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY,
  -- Shown in lists and logs so that people can tell keys apart; not enough to use the key.
  prefix        text NOT NULL CONSTRAINT api_key_prefix_unique UNIQUE,
  key_hash      bytea NOT NULL CONSTRAINT api_key_hash_unique UNIQUE
                  CONSTRAINT api_key_hash_is_sha256 CHECK (length(key_hash) = 32),
  owner_id      text NOT NULL CONSTRAINT api_key_owner_id_length CHECK (length(owner_id) BETWEEN 1 AND 128),
  scopes        text[] NOT NULL CONSTRAINT api_key_scopes_known
                  CHECK (scopes IN ('{read}', '{read,write}')),
  description   text CONSTRAINT api_key_description_length CHECK (length(description) <= 200),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at DESC);

-- A payment belongs to its wallet's owner. Kept on the payment so that every read filters by owner
-- with an index, and tied to the wallet by the foreign key, so the two cannot disagree.
ALTER TABLE wallets ADD CONSTRAINT wallet_id_owner_unique UNIQUE (id, owner_id);
-- Upgrading a running system: stop the API processes and workers, migrate, start the new version.
-- The old code neither fills payments.owner_id nor knows the new idempotency key, and this
-- migration rewrites payments under an exclusive lock (one transaction, as every migration).
ALTER TABLE payments ADD COLUMN owner_id text;
UPDATE payments p SET owner_id = w.owner_id FROM wallets w WHERE w.id = p.wallet_id;
ALTER TABLE payments ALTER COLUMN owner_id SET NOT NULL,
  ADD CONSTRAINT payment_wallet_owner FOREIGN KEY (wallet_id, owner_id) REFERENCES wallets (id, owner_id);
CREATE INDEX payments_owner_created ON payments (owner_id, created_at DESC, id DESC);

-- Two owners may use the same Idempotency-Key on the same endpoint: two independent results.
-- A stored answer from before callers existed goes to the owner of what it made, so that a client
-- retrying after the upgrade (now with its key) is answered with it instead of paying twice. A
-- claim with no answer yet belongs to no owner (''): its lease and retention end it.
ALTER TABLE idempotency_keys ADD COLUMN owner_id text NOT NULL DEFAULT '';
UPDATE idempotency_keys k SET owner_id = coalesce(
    CASE k.scope
      WHEN 'POST /payments' THEN (SELECT p.owner_id FROM payments p WHERE p.id::text = k.response_body ->> 'id')
      WHEN 'POST /payments/:id/refunds' THEN
        (SELECT p.owner_id FROM payments p WHERE p.id::text = k.response_body ->> 'payment_id')
      WHEN 'POST /wallets' THEN (SELECT w.owner_id FROM wallets w WHERE w.id::text = k.response_body ->> 'id')
      WHEN 'POST /wallets/:id/deposits' THEN
        (SELECT w.owner_id FROM wallets w WHERE w.id::text = k.response_body -> 'wallet' ->> 'id')
    END, '')
 WHERE k.status = 'COMPLETED' AND k.response_status < 300;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
  ADD PRIMARY KEY (owner_id, scope, key);
ALTER TABLE idempotency_keys ALTER COLUMN owner_id DROP DEFAULT;

-- The rate limiter's counters (rate-limiter-flexible's Postgres store, in its own layout), shared by
-- every API process. `expire` is in epoch milliseconds. UNLOGGED: counters of the last minute are
-- not worth WAL (nor the relay's decoding of it); a crash empties the table, which only forgives
-- the current window.
CREATE UNLOGGED TABLE rate_limits (
  key     varchar(255) PRIMARY KEY,
  points  integer NOT NULL DEFAULT 0,
  expire  bigint
);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
