-- Payments whose live status, failure reason or refunded amount disagree with their event stream
-- (replay__payments_from_events). Usage: SELECT * FROM audit__payment_status();
CREATE OR REPLACE FUNCTION audit__payment_status()
RETURNS TABLE (payment_id uuid, live_status text, event_status text, live_refunded bigint, event_refunded bigint)
LANGUAGE sql STABLE AS $$
  SELECT p.id, p.status, r.status, p.refunded_amount, r.refunded_amount
    FROM payments p
    LEFT JOIN replay__payments_from_events() r ON r.id = p.id
   WHERE r.id IS NULL
      OR p.status IS DISTINCT FROM r.status
      OR p.failure_reason IS DISTINCT FROM r.failure_reason
      OR p.refunded_amount IS DISTINCT FROM r.refunded_amount;
$$;
