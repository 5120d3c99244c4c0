-- Writes the outbox row of an event: the Kafka message, keyed by aggregate id, on the aggregate's
-- topic, with headers event_id, event_type, trace_id and the envelope as value. Used by
-- event__append (the write path) and outbox__republish (operators).
-- A traced transaction names its span in the setting app.traceparent (tagTransactionWithTrace):
-- the row then also carries it as the W3C `traceparent` header, and the relay's publish span
-- continues that trace.
CREATE OR REPLACE FUNCTION outbox__write(p_event events) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
  VALUES (
    p_event.event_id,
    p_event.aggregate_type || 's.events',
    p_event.aggregate_id::text,
    p_event.event_type,
    jsonb_strip_nulls(jsonb_build_object(
      'event_id', p_event.event_id,
      'event_type', p_event.event_type,
      'trace_id', p_event.trace_id,
      'traceparent', nullif(current_setting('app.traceparent', true), ''))),
    event__envelope(p_event));
$$;
