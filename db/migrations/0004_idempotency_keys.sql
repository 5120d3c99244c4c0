-- migrate:up
-- One row per (endpoint, Idempotency-Key). A request first claims the key (IN_PROGRESS, with a
-- lease); the command's own transaction then stores the response (COMPLETED) together with its
-- effects, so a stored response always means the effect committed, and vice versa.
CREATE TABLE idempotency_keys (
  scope            text NOT NULL,
  key              text NOT NULL CONSTRAINT idempotency_key_length CHECK (length(key) BETWEEN 1 AND 255),
  request_hash     text NOT NULL,
  status           text NOT NULL CONSTRAINT idempotency_status_known CHECK (status IN ('IN_PROGRESS', 'COMPLETED')),
  -- Identifies the request that holds the claim; a request whose lease expired cannot complete.
  claim_token      uuid NOT NULL,
  locked_until     timestamptz NOT NULL,
  response_status  integer,
  response_body    jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (scope, key),
  CONSTRAINT idempotency_completed_has_response
    CHECK ((status = 'COMPLETED') = (response_status IS NOT NULL AND completed_at IS NOT NULL))
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
