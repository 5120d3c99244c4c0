-- The payment's necessary SQL, on tables of its own (in the bench's pgbench database): what a
-- payment cannot do without, to measure the ceiling the whole system is compared with (issue 14).
-- Per payment, three transactions: create it (row, event, outbox row); lock the wallet and debit
-- it (balance, ledger entry, event, outbox row, payment step); complete it (status, event, outbox
-- row). No jobs, no HTTP, no gateway, no relay: those are what the system adds around this.
DROP SCHEMA IF EXISTS ceiling CASCADE;
CREATE SCHEMA ceiling;
CREATE TABLE ceiling.wallets (
  id       integer PRIMARY KEY,
  balance  bigint NOT NULL CHECK (balance >= 0),
  version  integer NOT NULL
);
CREATE TABLE ceiling.payments (
  id         uuid PRIMARY KEY,
  wallet_id  integer NOT NULL REFERENCES ceiling.wallets (id),
  amount     bigint NOT NULL,
  status     text NOT NULL,
  version    integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ceiling.ledger_entries (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wallet_id  integer NOT NULL REFERENCES ceiling.wallets (id),
  amount     bigint NOT NULL,
  balance_after bigint NOT NULL,
  source_ref text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ceiling.events (
  position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id     uuid NOT NULL UNIQUE,
  aggregate_id text NOT NULL,
  version      integer NOT NULL,
  event_type   text NOT NULL,
  data         jsonb NOT NULL,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (aggregate_id, version)
);
CREATE TABLE ceiling.outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL REFERENCES ceiling.events (event_id),
  topic    text NOT NULL,
  key      text NOT NULL,
  payload  jsonb NOT NULL
);
INSERT INTO ceiling.wallets (id, balance, version)
SELECT g, 900000000000, 1 FROM generate_series(1, 1000) g;
