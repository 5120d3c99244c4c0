-- Deletes idempotency keys past their retention (at least 24 h, see IDEMPOTENCY_RETENTION_HOURS).
-- Returns how many rows went. Safe to run at any time: an expired key is simply unknown again.
CREATE OR REPLACE FUNCTION idempotency__prune(p_now timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE sql AS $$
  WITH gone AS (DELETE FROM idempotency_keys WHERE expires_at < p_now RETURNING 1)
  SELECT count(*) FROM gone;
$$;
