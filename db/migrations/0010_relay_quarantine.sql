-- migrate:up
-- Outbox rows the relay set aside instead of sending: too large for one Kafka message (over
-- RELAY_MESSAGE_MAX_BYTES, or refused by the broker as too large). The relay moves past such a row
-- so the rest of the stream flows and the slot stops pinning WAL; the row waits here, counted by
-- /metrics (outbox_relay_quarantined_rows) and the scheduled audit, until an operator republishes
-- or accepts it with relay_quarantine__resolve (docs/runbooks/relay.md).
CREATE TABLE relay_quarantine (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- No foreign key: retention prunes relayed outbox rows. The event itself stays in `events`.
  outbox_id       bigint NOT NULL,
  event_id        uuid NOT NULL REFERENCES events (event_id),
  topic           text NOT NULL,
  key             text NOT NULL,
  size_bytes      integer NOT NULL,
  reason          text NOT NULL
    CONSTRAINT relay_quarantine_reason_known CHECK (reason IN ('message_too_large', 'broker_refused_too_large')),
  detail          text NOT NULL,
  quarantined_at  timestamptz NOT NULL DEFAULT now(),
  resolved_at     timestamptz,
  resolution      text
    CONSTRAINT relay_quarantine_resolution_known CHECK (resolution IN ('republished', 'accepted')),
  resolution_note text,
  -- The relay may meet the same row again (a replay after a crash, a backfill): one entry per row.
  CONSTRAINT relay_quarantine_once UNIQUE (outbox_id),
  CONSTRAINT relay_quarantine_resolution_when_resolved CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE INDEX relay_quarantine_open ON relay_quarantine (quarantined_at) WHERE resolved_at IS NULL;

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
