-- migrate:up
-- Payments run as sagas. `status` is the coarse state callers see; `saga_step` is the saga's own
-- position, which every step checks before acting, so a step delivered twice acts once.
CREATE TABLE payments (
  id               uuid PRIMARY KEY,
  wallet_id        uuid NOT NULL CONSTRAINT payment_wallet_exists REFERENCES wallets (id),
  service_id       text NOT NULL CONSTRAINT payment_service_id_length CHECK (length(service_id) BETWEEN 1 AND 128),
  amount           bigint NOT NULL CONSTRAINT payment_amount_in_range CHECK (amount BETWEEN 1 AND 1000000000000),
  currency         char(3) NOT NULL CONSTRAINT payment_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
  method           text NOT NULL DEFAULT 'balance' CONSTRAINT payment_method_known CHECK (method = 'balance'),
  description      text CONSTRAINT payment_description_length CHECK (length(description) <= 500),
  metadata         jsonb NOT NULL DEFAULT '{}' CONSTRAINT payment_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
  status           text NOT NULL CONSTRAINT payment_status_known CHECK (status IN
                     ('PENDING', 'PROCESSING', 'COMPLETED', 'REJECTED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
  saga_step        text NOT NULL CONSTRAINT payment_saga_step_known CHECK (saga_step IN
                     ('requested', 'fraud_checked', 'debited', 'charge_requested', 'completed', 'rejected', 'failed')),
  failure_reason   text CONSTRAINT payment_failure_reason_known CHECK (failure_reason IN
                     ('FRAUD_SUSPECTED', 'INSUFFICIENT_FUNDS', 'GATEWAY_DECLINED', 'GATEWAY_UNAVAILABLE')),
  provider         text,
  refunded_amount  bigint NOT NULL DEFAULT 0,
  -- Refunds requested but not yet settled: counted against what is left to refund.
  refund_reserved  bigint NOT NULL DEFAULT 0,
  version          integer NOT NULL CONSTRAINT payment_version_positive CHECK (version > 0),
  trace_id         text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  CONSTRAINT payment_failure_reason_iff_failed
    CHECK ((status IN ('REJECTED', 'FAILED')) = (failure_reason IS NOT NULL)),
  CONSTRAINT payment_refunds_within_amount
    CHECK (refunded_amount >= 0 AND refund_reserved >= 0 AND refunded_amount + refund_reserved <= amount)
);
CREATE INDEX payments_wallet_created ON payments (wallet_id, created_at DESC, id DESC);
CREATE INDEX payments_status_created ON payments (status, created_at DESC, id DESC);
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);
CREATE INDEX payments_non_terminal ON payments (updated_at) WHERE status IN ('PENDING', 'PROCESSING');

ALTER TABLE ledger_entries
  ADD CONSTRAINT ledger_entry_payment_exists FOREIGN KEY (payment_id) REFERENCES payments (id);

-- What the saga did, for GET /payments/:id `steps`. One row per step and attempt.
CREATE TABLE payment_steps (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id  uuid NOT NULL CONSTRAINT payment_step_payment_exists REFERENCES payments (id),
  name        text NOT NULL,
  status      text NOT NULL,
  attempt     integer NOT NULL DEFAULT 1,
  detail      jsonb,
  at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payment_step_once_per_attempt UNIQUE (payment_id, name, attempt, status)
);
CREATE INDEX payment_steps_payment ON payment_steps (payment_id, id);

-- One charge per payment and provider: the gateway idempotency key is "<payment id>:<provider>".
CREATE TABLE payment_charges (
  payment_id         uuid NOT NULL CONSTRAINT payment_charge_payment_exists REFERENCES payments (id),
  provider           text NOT NULL CONSTRAINT payment_charge_provider_known CHECK (provider IN ('alpha', 'beta')),
  gateway_charge_id  text NOT NULL,
  status             text NOT NULL CONSTRAINT payment_charge_status_known CHECK (status IN ('pending', 'succeeded', 'failed')),
  decline_code       text,
  polls              integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payment_id, provider),
  CONSTRAINT payment_charge_gateway_id_unique UNIQUE (provider, gateway_charge_id)
);

-- Webhook deliveries already applied, by the gateway's event id: a duplicate is answered 200 and ignored.
CREATE TABLE gateway_webhook_events (
  provider     text NOT NULL,
  event_id     text NOT NULL,
  type         text NOT NULL,
  charge_id    text NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);

CREATE TABLE refunds (
  id                 uuid PRIMARY KEY,
  payment_id         uuid NOT NULL CONSTRAINT refund_payment_exists REFERENCES payments (id),
  amount             bigint NOT NULL CONSTRAINT refund_amount_positive CHECK (amount > 0),
  reason             text,
  status             text NOT NULL CONSTRAINT refund_status_known CHECK (status IN ('PENDING', 'SUCCEEDED')),
  gateway_refund_id  text,
  trace_id           text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  completed_at       timestamptz
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Fraud rules' blocklist: a wallet, an owner or a service that may not pay.
CREATE TABLE fraud_blocklist (
  kind      text NOT NULL CONSTRAINT fraud_blocklist_kind_known CHECK (kind IN ('wallet', 'owner', 'service')),
  value     text NOT NULL,
  reason    text NOT NULL,
  added_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, value)
);

-- Jobs that spent their attempts. Replay re-enqueues the same task and payload.
CREATE TABLE dead_letter_jobs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id           bigint NOT NULL,
  task             text NOT NULL,
  payload          jsonb NOT NULL,
  attempts         integer NOT NULL,
  last_error       text NOT NULL,
  payment_id       uuid,
  first_failed_at  timestamptz NOT NULL,
  last_failed_at   timestamptz NOT NULL DEFAULT now(),
  replayed_at      timestamptz,
  replay_job_id    bigint,
  CONSTRAINT dead_letter_once_per_job UNIQUE (job_id)
);
CREATE INDEX dead_letter_jobs_open ON dead_letter_jobs (id) WHERE replayed_at IS NULL;

-- graphile-worker's own ids for each worker process, so dead processes' jobs can be unlocked.
ALTER TABLE process_heartbeats ADD COLUMN graphile_worker_ids text[] NOT NULL DEFAULT '{}';

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
