-- migrate:up
-- Wallets hold a balance in integer minor units. The balance is a cached projection of the
-- ledger (audits compare the two); it is written only inside a transaction that also appends the
-- ledger entry and the wallet's event.
CREATE TABLE wallets (
  id          uuid PRIMARY KEY,
  owner_id    text NOT NULL CONSTRAINT wallet_owner_id_length CHECK (length(owner_id) BETWEEN 1 AND 128),
  currency    char(3) NOT NULL CONSTRAINT wallet_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
  balance     bigint NOT NULL DEFAULT 0,
  -- version = the version of the wallet aggregate's latest event (wallet.created is 1).
  version     integer NOT NULL CONSTRAINT wallet_version_positive CHECK (version > 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT wallet_balance_non_negative CHECK (balance >= 0),
  -- Balances travel as JSON numbers; past 2^53-1 they would lose precision.
  CONSTRAINT wallet_balance_within_safe_integer CHECK (balance <= 9007199254740991)
);

CREATE INDEX wallets_owner_id ON wallets (owner_id);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
