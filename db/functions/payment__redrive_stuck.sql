-- The stuck-saga sweeper: for every payment PENDING or PROCESSING longer than p_older_than,
-- enqueues again the job of the step it is waiting at (fraud check, debit, charge, or the status
-- poll), under the step's job key, so a pending job is rescheduled rather than doubled. Skips a
-- payment whose job is running right now, and one with an open dead letter (an operator decides
-- on those). Steps are idempotent, so a re-drive of a payment that was merely slow is harmless.
-- Returns what it re-drove. p_now is for tests (a clock they control).
-- Usage from psql: SELECT * FROM payment__redrive_stuck(interval '2 minutes');
DROP FUNCTION IF EXISTS payment__redrive_stuck(interval, integer);
CREATE OR REPLACE FUNCTION payment__redrive_stuck(p_older_than interval, p_max_attempts integer DEFAULT 5,
                                                  p_now timestamptz DEFAULT now())
RETURNS TABLE (payment_id uuid, task text)
LANGUAGE plpgsql AS $$
DECLARE
  v_payment record;
  v_task text;
  v_key text;
BEGIN
  FOR v_payment IN
    SELECT p.id, p.saga_step FROM payments p
     WHERE p.status IN ('PENDING', 'PROCESSING') AND p.updated_at < p_now - p_older_than
       AND NOT EXISTS (SELECT 1 FROM dead_letter_jobs d
                        WHERE d.payment_id = p.id AND d.replayed_at IS NULL AND d.resolved_at IS NULL)
     ORDER BY p.updated_at
     FOR NO KEY UPDATE SKIP LOCKED
  LOOP
    v_task := CASE v_payment.saga_step
      WHEN 'requested' THEN 'payment__fraud_check'
      WHEN 'fraud_checked' THEN 'payment__debit_wallet'
      WHEN 'debited' THEN 'payment__charge_gateway'
      WHEN 'charge_requested' THEN 'payment__poll_charge'
    END;
    CONTINUE WHEN v_task IS NULL;
    v_key := v_task || ':' || v_payment.id;
    -- A step running now, under its own key or inside the job of the step before it (the job that
    -- debits goes on to charge): leave it be.
    CONTINUE WHEN EXISTS (SELECT 1 FROM graphile_worker.jobs j
                           WHERE j.key IN (SELECT t || ':' || v_payment.id
                                             FROM unnest(ARRAY['payment__fraud_check', 'payment__debit_wallet',
                                                               'payment__charge_gateway', 'payment__poll_charge']) t)
                             AND j.locked_at IS NOT NULL);
    PERFORM graphile_worker.add_job(v_task, json_build_object('paymentId', v_payment.id),
                                    job_key => v_key, max_attempts => p_max_attempts);
    INSERT INTO payment_steps (payment_id, name, status, attempt, detail)
    VALUES (v_payment.id, 'sweeper', 'redriven',
            1 + (SELECT count(*) FROM payment_steps s WHERE s.payment_id = v_payment.id AND s.name = 'sweeper'),
            jsonb_build_object('task', v_task));
    payment_id := v_payment.id;
    task := v_task;
    RETURN NEXT;
  END LOOP;
END;
$$;
