-- The envelope of an event, as produced to Kafka and served by GET /payments/:id/events
-- (docs/asyncapi.yaml): { event_id, event_type, aggregate_type, aggregate_id, version, occurred_at,
-- trace_id, data }. One definition, used by event__append for the outbox and by the API.
CREATE OR REPLACE FUNCTION event__envelope(p_event events) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'event_id', p_event.event_id,
    'event_type', p_event.event_type,
    'aggregate_type', p_event.aggregate_type,
    'aggregate_id', p_event.aggregate_id,
    'version', p_event.version,
    'occurred_at', to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'trace_id', p_event.trace_id,
    'data', p_event.data);
$$;
