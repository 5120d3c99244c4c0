-- Payments as the event store alone says they are. status: the last of payment.completed
-- (COMPLETED), payment.rejected (REJECTED), payment.failed (FAILED), payment.refunded (its
-- data.status); without one, PROCESSING once the wallet was debited for it (payment.wallet_debited;
-- for payments debited before that event existed, the wallet's own wallet.debited), else PENDING.
-- The payments in p_ids, or all of them when p_all. Read-only. Called with p_all a constant
-- (false from audit__aggregates), the planner drops the other branch and reads the events of those
-- payments through their index (event_version_unique), whatever the size of the history.
CREATE OR REPLACE FUNCTION replay__payments_of(p_ids uuid[], p_all boolean)
RETURNS TABLE (id uuid, wallet_id uuid, amount bigint, status text, failure_reason text, provider text,
               refunded_amount bigint, version integer)
LANGUAGE sql STABLE AS $$
  WITH stream AS (
    SELECT e.* FROM events e
     WHERE e.aggregate_type = 'payment' AND (p_all OR e.aggregate_id = ANY (p_ids))
  ), settled AS (
    SELECT DISTINCT ON (s.aggregate_id) s.aggregate_id, s.event_type, s.data
      FROM stream s
     WHERE s.event_type IN ('payment.completed', 'payment.rejected', 'payment.failed', 'payment.refunded')
     ORDER BY s.aggregate_id, s.version DESC
  ), charged AS (
    SELECT DISTINCT ON (s.aggregate_id) s.aggregate_id, s.data ->> 'provider' AS provider
      FROM stream s WHERE s.event_type = 'payment.charge_requested'
     ORDER BY s.aggregate_id, s.version DESC
  ), folded AS (
    SELECT s.aggregate_id,
           max((s.data ->> 'wallet_id')::uuid::text) FILTER (WHERE s.event_type = 'payment.requested') AS wallet_id,
           max((s.data ->> 'amount')::bigint) FILTER (WHERE s.event_type = 'payment.requested') AS amount,
           max(s.data ->> 'reason') FILTER (WHERE s.event_type IN ('payment.rejected', 'payment.failed')) AS failure_reason,
           coalesce(sum((s.data ->> 'amount')::bigint) FILTER (WHERE s.event_type = 'payment.refunded'), 0)::bigint AS refunded,
           bool_or(s.event_type = 'payment.wallet_debited') AS debited,
           max(s.version) AS version
      FROM stream s GROUP BY s.aggregate_id
  )
  SELECT f.aggregate_id,
         f.wallet_id::uuid,
         f.amount,
         CASE st.event_type
           WHEN 'payment.completed' THEN 'COMPLETED'
           WHEN 'payment.rejected' THEN 'REJECTED'
           WHEN 'payment.failed' THEN 'FAILED'
           WHEN 'payment.refunded' THEN st.data ->> 'status'
           ELSE CASE WHEN f.debited OR EXISTS (SELECT 1 FROM events d
                                   WHERE d.aggregate_type = 'wallet' AND d.event_type = 'wallet.debited'
                                     AND d.data ->> 'payment_id' = f.aggregate_id::text)
                     THEN 'PROCESSING' ELSE 'PENDING' END
         END,
         f.failure_reason,
         c.provider,
         f.refunded,
         f.version
    FROM folded f
    LEFT JOIN settled st ON st.aggregate_id = f.aggregate_id
    LEFT JOIN charged c ON c.aggregate_id = f.aggregate_id;
$$;

-- One payment, or all when p_payment_id is NULL.
CREATE OR REPLACE FUNCTION replay__payments_from_events(p_payment_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, wallet_id uuid, amount bigint, status text, failure_reason text, provider text,
               refunded_amount bigint, version integer)
LANGUAGE sql STABLE AS $$
  SELECT * FROM replay__payments_of(ARRAY[p_payment_id], p_payment_id IS NULL);
$$;
