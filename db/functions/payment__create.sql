-- A payment's birth in one round trip: the row, PENDING at step 'requested' and version 1; its
-- first event (p_event: {"event_id", "type", "data", "job"}) appended at version 1 through
-- event__append, with its outbox row and the first step's job; and the 'request' step. The caller
-- (app/payments/payment.commands.ts) has checked the wallet's owner and currency. Nothing here
-- commits.
--   p_payment: {"id", "wallet_id", "owner_id", "service_id", "amount", "currency", "description",
--               "metadata", "trace_id"}
CREATE OR REPLACE FUNCTION payment__create(p_payment jsonb, p_event jsonb) RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  v_payment payments;
BEGIN
  INSERT INTO payments (id, wallet_id, owner_id, service_id, amount, currency, method, description,
                        metadata, status, saga_step, version, trace_id)
  SELECT r.id, r.wallet_id, r.owner_id, r.service_id, r.amount, r.currency, 'balance', r.description,
         coalesce(r.metadata, '{}'), 'PENDING', 'requested', 1, r.trace_id
    FROM jsonb_populate_record(NULL::payments, p_payment) r
  RETURNING * INTO v_payment;

  PERFORM event__append((p_event ->> 'event_id')::uuid, 'payment', v_payment.id, 0,
                        p_event ->> 'type', p_event -> 'data', v_payment.trace_id);
  IF jsonb_typeof(p_event -> 'job') = 'object' THEN
    PERFORM job__apply(p_event -> 'job');
  END IF;

  INSERT INTO payment_steps (payment_id, name, status) VALUES (v_payment.id, 'request', 'accepted');
  RETURN v_payment;
END;
$$;
