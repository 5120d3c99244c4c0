-- migrate:up
-- Append-only tables refuse UPDATE and DELETE with SQLSTATE WP002 (see docs/errors.md).
-- Lives in a migration, not in db/functions/, because triggers below depend on it.
CREATE FUNCTION refuse_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'WP002', HINT = 'Write a compensating row instead.';
END;
$$;

-- The event store: every state change of an aggregate, in version order.
CREATE TABLE events (
  -- A global order across aggregates, for replays and audits.
  position        bigint GENERATED ALWAYS AS IDENTITY,
  event_id        uuid PRIMARY KEY,
  aggregate_type  text NOT NULL CONSTRAINT event_aggregate_type_known CHECK (aggregate_type IN ('wallet', 'payment')),
  aggregate_id    uuid NOT NULL,
  version         integer NOT NULL CONSTRAINT event_version_positive CHECK (version > 0),
  event_type      text NOT NULL CONSTRAINT event_type_dotted_lower_case CHECK (event_type ~ '^[a-z]+(\.[a-z_]+)+$'),
  data            jsonb NOT NULL CONSTRAINT event_data_is_object CHECK (jsonb_typeof(data) = 'object'),
  trace_id        text NOT NULL,
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  -- The optimistic concurrency guard: two writers of one aggregate cannot both append version n.
  CONSTRAINT event_version_unique UNIQUE (aggregate_id, version)
);
CREATE UNIQUE INDEX events_position ON events (position);
CREATE INDEX events_aggregate_type_position ON events (aggregate_type, position);

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_mutation();

-- The outbox: one row per event, already shaped as the Kafka message. The relay reads it through
-- logical replication, so rows are only ever inserted (and pruned by retention once relayed).
CREATE TABLE outbox (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id    uuid NOT NULL CONSTRAINT outbox_event_exists REFERENCES events (event_id),
  topic       text NOT NULL CONSTRAINT outbox_topic_known CHECK (topic IN ('wallets.events', 'payments.events')),
  key         text NOT NULL,
  event_type  text NOT NULL,
  headers     jsonb NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_one_row_per_event UNIQUE (event_id)
);
CREATE INDEX outbox_created_at ON outbox (created_at);

-- Rows are never changed; deleting is reserved to retention, which must say so explicitly
-- (SET LOCAL app.outbox_prune = 'on'), so an accidental DELETE cannot lose unrelayed events.
CREATE FUNCTION outbox_refuse_unapproved_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('app.outbox_prune', true), '') <> 'on' THEN
    RAISE EXCEPTION 'outbox rows are deleted only by retention (app.outbox_prune)'
      USING ERRCODE = 'WP002';
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_no_update BEFORE UPDATE OR TRUNCATE ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_mutation();
CREATE TRIGGER outbox_delete_only_by_retention BEFORE DELETE ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_unapproved_delete();

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.
