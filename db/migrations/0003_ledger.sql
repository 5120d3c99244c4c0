-- migrate:up
-- The ledger: every movement of a wallet's money, signed (debits negative). Append-only.
-- balance = sum(amount) per wallet is the invariant the audits check.
CREATE TABLE ledger_entries (
  id             uuid PRIMARY KEY,
  -- Total order within the ledger; the cursor of GET /wallets/:id/ledger.
  seq            bigint GENERATED ALWAYS AS IDENTITY,
  wallet_id      uuid NOT NULL CONSTRAINT ledger_entry_wallet_exists REFERENCES wallets (id),
  type           text NOT NULL CONSTRAINT ledger_entry_type_known
                   CHECK (type IN ('DEPOSIT', 'PAYMENT_DEBIT', 'PAYMENT_REVERSAL', 'REFUND')),
  amount         bigint NOT NULL,
  balance_after  bigint NOT NULL CONSTRAINT ledger_balance_after_non_negative CHECK (balance_after >= 0),
  payment_id     uuid,
  -- What caused the entry ("deposit:<wallet>:<idempotency key>", "payment:<id>:debit", ...).
  -- Unique, so the same effect can never be applied twice, whatever retries the callers make.
  source_ref     text NOT NULL CONSTRAINT ledger_source_ref_unique UNIQUE,
  reference      text,
  event_id       uuid NOT NULL CONSTRAINT ledger_entry_event_exists REFERENCES events (event_id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_amount_sign_matches_type
    CHECK ((type = 'PAYMENT_DEBIT' AND amount < 0) OR (type <> 'PAYMENT_DEBIT' AND amount > 0)),
  CONSTRAINT ledger_payment_entries_name_payment
    CHECK ((type = 'DEPOSIT') = (payment_id IS NULL))
);
CREATE UNIQUE INDEX ledger_entries_seq ON ledger_entries (seq);
CREATE INDEX ledger_entries_wallet_seq ON ledger_entries (wallet_id, seq DESC);
CREATE INDEX ledger_entries_payment ON ledger_entries (payment_id) WHERE payment_id IS NOT NULL;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_mutation();

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
