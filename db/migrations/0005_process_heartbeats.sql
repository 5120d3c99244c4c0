-- migrate:up
-- Each long-running process (worker, relay) upserts its row every few seconds. /health reads
-- them; a later sweeper uses them to find dead workers whose jobs must be unlocked.
CREATE TABLE process_heartbeats (
  instance_id   text PRIMARY KEY,
  role          text NOT NULL CONSTRAINT heartbeat_role_known CHECK (role IN ('api', 'worker', 'relay')),
  pid           integer NOT NULL,
  hostname      text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX process_heartbeats_role_last_seen ON process_heartbeats (role, last_seen_at DESC);

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
