-- Payments still PENDING or PROCESSING longer than p_older_than after their last change.
-- The sweeper (maintenance__redrive_stuck_payments) re-drives these. p_now is for tests. Usage:
-- SELECT * FROM audit__stuck_payments(interval '5 minutes');
DROP FUNCTION IF EXISTS audit__stuck_payments(interval);
CREATE OR REPLACE FUNCTION audit__stuck_payments(p_older_than interval DEFAULT interval '5 minutes',
                                                 p_now timestamptz DEFAULT now())
RETURNS TABLE (payment_id uuid, status text, saga_step text, updated_at timestamptz, stuck_for interval)
LANGUAGE sql STABLE AS $$
  SELECT p.id, p.status, p.saga_step, p.updated_at, p_now - p.updated_at
    FROM payments p
   WHERE p.status IN ('PENDING', 'PROCESSING') AND p.updated_at < p_now - p_older_than
   ORDER BY p.updated_at;
$$;
