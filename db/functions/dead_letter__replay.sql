-- Re-enqueues a dead-lettered job (same task, same payload, fresh attempts) and marks the dead
-- letter replayed, in one transaction. A saga job goes back under its step's job key
-- (<task>:<refund id or payment id>), the key the sweeper and the saga use, so a replay replaces a
-- pending copy of that step instead of running beside it. Raises WP003 if it does not exist, WP004 if already replayed.
-- Returns the new graphile-worker job id. Usage from psql: SELECT dead_letter__replay(42);
CREATE OR REPLACE FUNCTION dead_letter__replay(p_id bigint, p_max_attempts integer DEFAULT 5) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_letter dead_letter_jobs;
  v_job_id bigint;
  v_key text;
BEGIN
  SELECT * INTO v_letter FROM dead_letter_jobs WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'dead letter % does not exist', p_id USING ERRCODE = 'WP003';
  END IF;
  IF v_letter.replayed_at IS NOT NULL THEN
    RAISE EXCEPTION 'dead letter % was already replayed as job %', p_id, v_letter.replay_job_id USING ERRCODE = 'WP004';
  END IF;
  -- The payment's row lock first, as every saga step takes it before enqueueing under the same
  -- job key: the other order could deadlock with a running step.
  IF v_letter.payment_id IS NOT NULL THEN
    PERFORM 1 FROM payments WHERE id = v_letter.payment_id FOR NO KEY UPDATE;
  END IF;
  v_key := CASE
    WHEN v_letter.task = 'payment__refund_stray_charge' THEN v_letter.task || ':' || (v_letter.payload ->> 'attemptId')
    WHEN v_letter.payload ? 'refundId' THEN v_letter.task || ':' || (v_letter.payload ->> 'refundId')
    WHEN v_letter.payload ? 'paymentId' THEN v_letter.task || ':' || (v_letter.payload ->> 'paymentId')
  END;
  SELECT (graphile_worker.add_job(v_letter.task, v_letter.payload::json, max_attempts => p_max_attempts,
                                  job_key => v_key)).id INTO v_job_id;
  UPDATE dead_letter_jobs SET replayed_at = now(), replay_job_id = v_job_id,
                              replayed_by = coalesce(replayed_by, 'operator') WHERE id = p_id;
  IF v_letter.payment_id IS NOT NULL THEN
    INSERT INTO payment_steps (payment_id, name, status, attempt, detail)
    VALUES (v_letter.payment_id, v_letter.task, 'replayed', 1, jsonb_build_object('dead_letter_id', p_id, 'job_id', v_job_id))
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN v_job_id;
END;
$$;
