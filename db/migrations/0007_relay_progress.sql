-- migrate:up
-- Where the outbox relay is: the last transaction Kafka acknowledged. Written by the leader relay
-- at most about once a second; read by /metrics (outbox_relay_lag_seconds), /health and outbox
-- retention, which never deletes a row newer than the last acknowledged commit.
CREATE TABLE relay_progress (
  slot_name        text PRIMARY KEY,
  acked_lsn        pg_lsn,
  last_commit_at   timestamptz,
  events_relayed   bigint NOT NULL DEFAULT 0,
  leader_instance  text NOT NULL,
  -- Rows committed before the slot existed are not in its stream: the relay publishes the outbox
  -- table once after creating the slot, and records here that it finished.
  backfill_completed_at timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
