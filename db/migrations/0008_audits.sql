-- migrate:up
-- Results of the scheduled consistency check (audit__run), newest last. /health and the
-- audit_discrepancies metric read the latest row.
CREATE TABLE audit_runs (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ran_at         timestamptz NOT NULL DEFAULT now(),
  discrepancies  integer NOT NULL CONSTRAINT audit_discrepancies_non_negative CHECK (discrepancies >= 0),
  details        jsonb NOT NULL
);
CREATE INDEX audit_runs_ran_at ON audit_runs (ran_at DESC);

-- The replay's scratch space: read models rebuilt from the event store alone.
CREATE SCHEMA IF NOT EXISTS replay;
CREATE TABLE replay.wallets (
  id        uuid PRIMARY KEY,
  owner_id  text,
  currency  text,
  balance   bigint NOT NULL,
  version   integer NOT NULL
);
CREATE TABLE replay.payments (
  id               uuid PRIMARY KEY,
  wallet_id        uuid,
  amount           bigint,
  status           text NOT NULL,
  failure_reason   text,
  provider         text,
  refunded_amount  bigint NOT NULL,
  version          integer NOT NULL
);

-- Every repair the replay made to a live row, with the operator's reason: repairs are never silent.
CREATE TABLE replay_repairs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repaired_at     timestamptz NOT NULL DEFAULT now(),
  repaired_by     text NOT NULL DEFAULT current_user,
  reason          text NOT NULL CONSTRAINT replay_repair_reason_given CHECK (length(reason) > 0),
  aggregate_type  text NOT NULL,
  aggregate_id    uuid NOT NULL,
  field           text NOT NULL,
  live_value      text,
  replayed_value  text
);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
