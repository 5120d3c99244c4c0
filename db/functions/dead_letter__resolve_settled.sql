-- Closes the open dead letters whose purpose the system has reached without them: a forward saga
-- step (fraud check, debit, charge, poll) of a payment that is now at rest, a refund job whose
-- refund is no longer PENDING, a stray-charge refund already made. Typical cause: a job whose
-- attempts were spent by crashes or database outages while a webhook or the reconciliation
-- settled its payment. Letters for anything still in flight stay open for an operator.
-- Called by the dead-letter sweep cron; returns how many it resolved.
-- Usage from psql: SELECT dead_letter__resolve_settled();
CREATE OR REPLACE FUNCTION dead_letter__resolve_settled() RETURNS bigint
LANGUAGE sql AS $$
  WITH resolved AS (
    UPDATE dead_letter_jobs d
       SET resolved_at = now(),
           resolution = CASE
             WHEN d.task = 'payment__refund' THEN 'refund settled without this job'
             WHEN d.task = 'payment__refund_stray_charge' THEN 'stray charge refunded without this job'
             ELSE 'payment ' || p.status || ' without this job'
           END
      FROM payments p
     WHERE p.id = d.payment_id
       AND d.replayed_at IS NULL AND d.resolved_at IS NULL
       AND CASE
             WHEN d.task IN ('payment__fraud_check', 'payment__debit_wallet', 'payment__charge_gateway',
                             'payment__poll_charge')
               THEN p.status NOT IN ('PENDING', 'PROCESSING')
             WHEN d.task = 'payment__refund'
               THEN d.payload ->> 'refundId' IS NOT NULL
                AND EXISTS (SELECT 1 FROM refunds r
                             WHERE r.id::text = d.payload ->> 'refundId' AND r.status <> 'PENDING')
             WHEN d.task = 'payment__refund_stray_charge'
               THEN NOT EXISTS (SELECT 1 FROM charge_attempts c
                                 WHERE c.payment_id = p.id AND c.stray_detected_at IS NOT NULL
                                   AND c.stray_refund_id IS NULL)
             ELSE false
           END
    RETURNING 1
  )
  SELECT count(*) FROM resolved;
$$;
