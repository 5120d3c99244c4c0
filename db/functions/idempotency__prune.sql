-- Deletes idempotency keys past their retention (at least 24 h, see IDEMPOTENCY_RETENTION_HOURS).
-- Returns how many rows went. Safe to run at any time: an expired key is simply unknown again.
-- A claim whose lease is still held is kept whatever its expiry: its request is running (a retry
-- that re-claimed a key keeps the key's first expiry), and pruning it would fail that request with
-- 409 IDEMPOTENCY_IN_PROGRESS while letting the same key start a second one beside it.
CREATE OR REPLACE FUNCTION idempotency__prune(p_now timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE sql AS $$
  WITH gone AS (
    DELETE FROM idempotency_keys
     WHERE expires_at < p_now
       AND NOT (status = 'IN_PROGRESS' AND locked_until > p_now)
    RETURNING 1
  )
  SELECT count(*) FROM gone;
$$;
