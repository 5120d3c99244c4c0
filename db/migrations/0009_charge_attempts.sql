-- migrate:up
-- The gateway boundary. An answer that never came is unknown, never "no": every charge attempt is
-- recorded here, status 'unknown', and committed BEFORE its request is sent; the answer, a
-- webhook, a poll, a lookup by reference or a cancel settles it. The saga moves to another
-- provider, or gives the money back, only when every attempt is known not to have charged
-- (not_created, failed, canceled). See docs/saga.md.
CREATE TABLE charge_attempts (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id         uuid NOT NULL CONSTRAINT charge_attempt_payment_exists REFERENCES payments (id),
  provider           text NOT NULL CONSTRAINT charge_attempt_provider_known CHECK (provider IN ('alpha', 'beta')),
  -- The gateway idempotency key, reused by every retry of this attempt. NULL: a charge we did not
  -- ask for, found by a webhook or by reconciliation (it can only be stray money).
  idempotency_key    text,
  gateway_charge_id  text,
  amount             bigint NOT NULL CONSTRAINT charge_attempt_amount_positive CHECK (amount > 0),
  currency           char(3) NOT NULL,
  status             text NOT NULL CONSTRAINT charge_attempt_status_known CHECK (status IN
                       ('unknown', 'not_created', 'pending', 'succeeded', 'failed', 'canceled')),
  -- Calls made with this key (counted, and committed, BEFORE each is sent) and calls proven not
  -- processed (connection refused, 503 `processed: false`, an open breaker). While
  -- calls > refused_calls some call may have been processed (a timeout, a 5xx, an unreadable
  -- answer, a process that died mid-call), and a refusal proves nothing.
  calls              integer NOT NULL DEFAULT 0,
  refused_calls      integer NOT NULL DEFAULT 0,
  -- What settled the status: answer, webhook, poll, lookup, cancel.
  settled_by         text,
  decline_code       text,
  last_error         text,
  polls              integer NOT NULL DEFAULT 0,
  -- Money the gateway took that no payment keeps (a success after the payment failed, or a
  -- second success): refunded at the gateway by payment__refund_stray_charge.
  stray_detected_at  timestamptz,
  stray_refund_id    text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT charge_attempt_key_unique UNIQUE (provider, idempotency_key),
  CONSTRAINT charge_attempt_gateway_id_unique UNIQUE (provider, gateway_charge_id),
  CONSTRAINT charge_attempt_known_charge_has_id
    CHECK (status IN ('unknown', 'not_created') OR gateway_charge_id IS NOT NULL),
  CONSTRAINT charge_attempt_refusals_counted CHECK (refused_calls BETWEEN 0 AND calls),
  CONSTRAINT charge_attempt_stray_succeeded
    CHECK (stray_detected_at IS NULL OR status = 'succeeded')
);
-- One attempt of ours per payment and provider: its key is "<payment id>:<provider>".
CREATE UNIQUE INDEX charge_attempt_one_per_provider ON charge_attempts (payment_id, provider)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX charge_attempts_payment ON charge_attempts (payment_id, id);
CREATE INDEX charge_attempts_open ON charge_attempts (updated_at)
  WHERE status IN ('unknown', 'pending') OR (stray_detected_at IS NOT NULL AND stray_refund_id IS NULL);

INSERT INTO charge_attempts (payment_id, provider, idempotency_key, gateway_charge_id, amount, currency,
                             status, calls, settled_by, decline_code, polls, created_at, updated_at)
SELECT c.payment_id, c.provider, c.payment_id || ':' || c.provider, c.gateway_charge_id, p.amount, p.currency,
       c.status, 1, 'answer', c.decline_code, c.polls, c.created_at, c.updated_at
  FROM payment_charges c JOIN payments p ON p.id = c.payment_id;
DROP TABLE payment_charges;

-- Refunds can fail: refused by the gateway, or unreachable past their retries. A FAILED refund's
-- amount is released (payments.refund_reserved) for another refund.
ALTER TABLE refunds DROP CONSTRAINT refund_status_known;
ALTER TABLE refunds ADD CONSTRAINT refund_status_known CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED'));
ALTER TABLE refunds ADD COLUMN failure_reason text;
-- As on charge_attempts: a refund may have been made while gateway_calls > refused_calls, and is
-- then never failed (a same-key retry finds out).
ALTER TABLE refunds ADD COLUMN gateway_calls integer NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN refused_calls integer NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD CONSTRAINT refund_failure_reason_iff_failed
  CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL));

-- What the gateway reports against what we recorded, per payment and provider: written by the
-- reconciliation cron (workers/tasks/maintenance/reconcile-gateway.ts), read by /health, the
-- gateway_reconciliation_discrepancies metric and docs/runbooks/gateway.md.
CREATE TABLE gateway_reconciliation_differences (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id   uuid NOT NULL CONSTRAINT reconciliation_payment_exists REFERENCES payments (id),
  provider     text NOT NULL,
  kind         text NOT NULL CONSTRAINT reconciliation_kind_known CHECK (kind IN
                 ('charge_missing', 'unexpected_charge', 'amount_mismatch', 'refunds_mismatch', 'lookup_failed')),
  detail       jsonb NOT NULL,
  found_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at  timestamptz,
  resolution   text,
  CONSTRAINT reconciliation_resolution_given CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX reconciliation_open_once ON gateway_reconciliation_differences (payment_id, provider, kind)
  WHERE resolved_at IS NULL;

-- Which settled payments the reconciliation has compared with the gateway, at which version of
-- the payment (a payment that changed since, a refund say, is compared again).
CREATE TABLE gateway_reconciliation_checks (
  payment_id       uuid PRIMARY KEY CONSTRAINT reconciliation_check_payment_exists REFERENCES payments (id),
  checked_version  integer NOT NULL,
  checked_at       timestamptz NOT NULL DEFAULT now(),
  clean            boolean NOT NULL
);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
