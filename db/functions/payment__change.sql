-- One payment transition in one round trip. The caller (app/payments/payment.aggregate.ts) holds
-- the payment's row lock and has decided the transition; this appends its events in order, each
-- through event__append (version check, outbox row, next job), records the saga step, applies the
-- changes to the payment row and, when the payment settles, NOTIFYs payment_settled (delivered
-- only if the transaction commits). Nothing here commits.
--
-- Before this function a transition cost 3 to 6 statements from the worker (each event, the step,
-- the update, the notify); see docs/benchmarks.md for the before/after figures.
--
--   p_events:  [{"event_id", "type", "data", "job": {"task", "payload", "key", "delay_seconds",
--               "max_attempts"} | null}, ...]
--   p_changes: {"column": value} for saga_step, status, failure_reason, provider,
--               refunded_amount, refund_reserved (other keys are refused). completed_at is not the
--               caller's to give: it is set here, by the database's clock, when the payment settles
--               (a worker's clock may be off).
--   p_steps:   [{"name", "status", "attempt", "detail"}, ...], recorded in order
--   p_jobs:    job changes that ride on no event of this transition: a job to enqueue (a delayed
--              status poll, a charge step asked again), shaped as an event's "job", or
--              {"remove_key"}: a pending step the transition made pointless (db/functions/job__apply.sql)
--
-- The five-argument form of earlier versions is dropped: a caller of it (an older worker during a
-- rolling deploy) reaches this one, p_jobs taking its default.
DROP FUNCTION IF EXISTS payment__change(uuid, integer, jsonb, jsonb, jsonb);
CREATE OR REPLACE FUNCTION payment__change(
  p_payment_id        uuid,
  p_expected_version  integer,
  p_events            jsonb,
  p_changes           jsonb,
  p_steps             jsonb DEFAULT '[]',
  p_jobs              jsonb DEFAULT '[]'
) RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  v_old     payments;
  v_new     payments;
  v_version integer := p_expected_version;
  v_event   jsonb;
  v_job     jsonb;
  v_unknown text;
BEGIN
  SELECT k INTO v_unknown FROM jsonb_object_keys(p_changes) k
   WHERE k NOT IN ('saga_step', 'status', 'failure_reason', 'provider',
                   'refunded_amount', 'refund_reserved')
   LIMIT 1;
  IF v_unknown IS NOT NULL THEN
    RAISE EXCEPTION 'payment__change cannot set column %', v_unknown
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT * INTO v_old FROM payments WHERE id = p_payment_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % not found', p_payment_id USING ERRCODE = 'no_data_found';
  END IF;

  FOR v_event IN SELECT e FROM jsonb_array_elements(p_events) e LOOP
    v_job := nullif(v_event -> 'job', 'null'::jsonb);
    PERFORM event__append(
      (v_event ->> 'event_id')::uuid, 'payment', p_payment_id, v_version,
      v_event ->> 'type', v_event -> 'data', v_old.trace_id,
      v_job ->> 'task', (v_job -> 'payload')::json, v_job ->> 'key',
      -- A delay, not a time: run_at is reckoned by this database's clock, never the caller's.
      clock_timestamp() + make_interval(secs => (v_job ->> 'delay_seconds')::float8),
      (v_job ->> 'max_attempts')::integer);
    v_version := v_version + 1;
  END LOOP;

  PERFORM job__apply(j) FROM jsonb_array_elements(p_jobs) j;

  INSERT INTO payment_steps (payment_id, name, status, attempt, detail)
  SELECT p_payment_id, s ->> 'name', s ->> 'status', coalesce((s ->> 'attempt')::integer, 1),
         nullif(s -> 'detail', 'null'::jsonb)
    FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS t(s, n)
   ORDER BY n
  ON CONFLICT ON CONSTRAINT payment_step_once_per_attempt DO NOTHING;

  v_new := jsonb_populate_record(v_old, p_changes);
  UPDATE payments SET
    saga_step       = v_new.saga_step,
    status          = v_new.status,
    failure_reason  = v_new.failure_reason,
    provider        = v_new.provider,
    completed_at    = CASE WHEN v_old.status IN ('PENDING', 'PROCESSING')
                                AND v_new.status IN ('COMPLETED', 'REJECTED', 'FAILED')
                           THEN now() ELSE v_old.completed_at END,
    refunded_amount = v_new.refunded_amount,
    refund_reserved = v_new.refund_reserved,
    version         = v_version,
    updated_at      = now()
  WHERE id = p_payment_id
  RETURNING * INTO v_new;

  IF v_old.status NOT IN ('COMPLETED', 'REJECTED', 'FAILED')
     AND v_new.status IN ('COMPLETED', 'REJECTED', 'FAILED') THEN
    PERFORM pg_notify('payment_settled', p_payment_id::text);
  END IF;
  RETURN v_new;
END;
$$;
