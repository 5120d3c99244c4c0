-- The bench's audit phase (scripts/bench/audit.ts): grows the history to (1 + p_copies) times what
-- the run produced, so that the audits can be timed over more data than a bench run can make.
-- Every wallet with its ledger entries and events, every payment with its events, steps, charge
-- attempts and refunds, and the outbox rows of all those events, are copied p_copies times under
-- fresh ids.
--
-- Every id is remapped by one function, bench__clone_id(salt, copy, id): the same original id
-- always becomes the same new id within a copy, so each reference lands in the same copy:
-- aggregate ids, event ids, the ids inside event data (wallet_id, payment_id, entry_id, refund_id),
-- the ledger's wallet, payment and event, a payment's wallet, the outbox row's event, key and
-- envelope. Each copy therefore holds exactly what the original holds, and the audits
-- (db/functions/audit__*.sql, replay__*.sql) find in it what they find in the original: after a
-- clean run, audit__run() still reports 0 discrepancies and replay__verify() no difference.
-- The salt is drawn per call, so calling it again copies under other ids.
--
-- Unique references that are not ours to map (the gateway's charge and refund ids, the ledger's
-- source_ref when it names no id we know) get the copy's mark appended instead (bench__clone_ref),
-- in the table and in the event data alike.
--
-- Inserts only (the append-only tables refuse UPDATE and DELETE), and the identity columns
-- (events.position, ledger_entries.seq, outbox.id, payment_steps.id, charge_attempts.id) are
-- generated: the copies follow the original history, copy after copy, each in the original order.
--
-- Everything lives in pg_temp, for the session that runs this file. Usage, on one connection:
--   SELECT pg_temp.bench__clone_history(9);   -- 10x the data

CREATE FUNCTION pg_temp.bench__clone_id(p_salt text, p_copy integer, p_id uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
  -- md5 of salt, copy and id, shaped as a version 4 uuid (the API's schemas check the shape).
  SELECT overlay(overlay(md5(p_salt || ':' || p_copy || ':' || p_id) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid;
$$;

CREATE FUNCTION pg_temp.bench__clone_ref(p_salt text, p_copy integer, p_ref text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_ref || '~' || p_salt || '.' || p_copy;
$$;

-- An event's data with the ids it names remapped into the copy (absent keys stay absent, nulls null).
CREATE FUNCTION pg_temp.bench__clone_data(p_salt text, p_copy integer, p_event_type text, p_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_data || jsonb_strip_nulls(jsonb_build_object(
    'wallet_id', pg_temp.bench__clone_id(p_salt, p_copy, (p_data ->> 'wallet_id')::uuid),
    'payment_id', pg_temp.bench__clone_id(p_salt, p_copy, (p_data ->> 'payment_id')::uuid),
    'entry_id', pg_temp.bench__clone_id(p_salt, p_copy, (p_data ->> 'entry_id')::uuid),
    -- Our refund's id (a refunds row), except in payment.stray_charge_refunded: the gateway's.
    'refund_id', CASE WHEN p_event_type = 'payment.stray_charge_refunded'
                      THEN to_jsonb(pg_temp.bench__clone_ref(p_salt, p_copy, p_data ->> 'refund_id'))
                      ELSE to_jsonb(pg_temp.bench__clone_id(p_salt, p_copy, (p_data ->> 'refund_id')::uuid)) END,
    'charge_id', pg_temp.bench__clone_ref(p_salt, p_copy, p_data ->> 'charge_id')));
$$;

-- Returns the rows added per table.
CREATE FUNCTION pg_temp.bench__clone_history(p_copies integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_salt text := left(md5(random()::text || clock_timestamp()::text), 8);
  v_added jsonb := '{}';
  v_n bigint;
BEGIN
  IF p_copies IS NULL OR p_copies < 1 THEN
    RAISE EXCEPTION 'bench__clone_history needs at least one copy';
  END IF;
  -- One statement per table, each across every copy: a statement does not see its own inserts, so
  -- it reads the original rows only and no copy is copied again. In the order of the foreign keys.
  INSERT INTO wallets (id, owner_id, currency, balance, version, created_at, updated_at)
  SELECT pg_temp.bench__clone_id(v_salt, k, w.id), w.owner_id, w.currency, w.balance, w.version,
         w.created_at, w.updated_at
    FROM wallets w CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, w.created_at, w.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('wallets', v_n);

  INSERT INTO payments (id, wallet_id, service_id, amount, currency, method, description, metadata, status,
                        saga_step, failure_reason, provider, refunded_amount, refund_reserved, version, trace_id,
                        created_at, updated_at, completed_at, owner_id)
  SELECT pg_temp.bench__clone_id(v_salt, k, p.id), pg_temp.bench__clone_id(v_salt, k, p.wallet_id),
         p.service_id, p.amount, p.currency, p.method, p.description, p.metadata, p.status, p.saga_step,
         p.failure_reason, p.provider, p.refunded_amount, p.refund_reserved, p.version, p.trace_id,
         p.created_at, p.updated_at, p.completed_at, p.owner_id
    FROM payments p CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, p.created_at, p.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('payments', v_n);

  INSERT INTO events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id, occurred_at)
  SELECT pg_temp.bench__clone_id(v_salt, k, e.event_id), e.aggregate_type,
         pg_temp.bench__clone_id(v_salt, k, e.aggregate_id), e.version, e.event_type,
         pg_temp.bench__clone_data(v_salt, k, e.event_type, e.data), e.trace_id, e.occurred_at
    FROM events e CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, e.position;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('events', v_n);

  INSERT INTO ledger_entries (id, wallet_id, type, amount, balance_after, payment_id, source_ref, reference,
                              event_id, created_at)
  SELECT pg_temp.bench__clone_id(v_salt, k, l.id), pg_temp.bench__clone_id(v_salt, k, l.wallet_id), l.type,
         l.amount, l.balance_after, pg_temp.bench__clone_id(v_salt, k, l.payment_id),
         -- "refund:<refund id>", "payment:<payment id>:<step>", "deposit:<wallet id>:<key>": the id
         -- the entry names, remapped; any other form gets the copy's mark.
         CASE
           WHEN l.source_ref ~ '^refund:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN 'refund:' || pg_temp.bench__clone_id(v_salt, k, substr(l.source_ref, 8)::uuid)
           WHEN l.payment_id IS NOT NULL AND strpos(l.source_ref, l.payment_id::text) > 0
             THEN replace(l.source_ref, l.payment_id::text, pg_temp.bench__clone_id(v_salt, k, l.payment_id)::text)
           WHEN strpos(l.source_ref, l.wallet_id::text) > 0
             THEN replace(l.source_ref, l.wallet_id::text, pg_temp.bench__clone_id(v_salt, k, l.wallet_id)::text)
           ELSE pg_temp.bench__clone_ref(v_salt, k, l.source_ref)
         END,
         l.reference, pg_temp.bench__clone_id(v_salt, k, l.event_id), l.created_at
    FROM ledger_entries l CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, l.seq;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('ledger_entries', v_n);

  -- The outbox row of each copied event, as outbox__write shapes it: remapped the way the event was
  -- (its envelope carries the event's id, aggregate id and data).
  INSERT INTO outbox (event_id, topic, key, event_type, headers, payload, created_at)
  SELECT pg_temp.bench__clone_id(v_salt, k, o.event_id), o.topic,
         pg_temp.bench__clone_id(v_salt, k, o.key::uuid)::text, o.event_type,
         o.headers || jsonb_build_object('event_id', pg_temp.bench__clone_id(v_salt, k, o.event_id)),
         o.payload || jsonb_build_object(
           'event_id', pg_temp.bench__clone_id(v_salt, k, o.event_id),
           'aggregate_id', pg_temp.bench__clone_id(v_salt, k, (o.payload ->> 'aggregate_id')::uuid),
           'data', pg_temp.bench__clone_data(v_salt, k, o.event_type, o.payload -> 'data')),
         o.created_at
    FROM outbox o CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, o.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('outbox', v_n);

  INSERT INTO payment_steps (payment_id, name, status, attempt, detail, at)
  SELECT pg_temp.bench__clone_id(v_salt, k, s.payment_id), s.name, s.status, s.attempt, s.detail, s.at
    FROM payment_steps s CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, s.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('payment_steps', v_n);

  -- Our idempotency key is "<payment id>:<provider>" (NULL for a charge we did not ask for).
  INSERT INTO charge_attempts (payment_id, provider, idempotency_key, gateway_charge_id, amount, currency, status,
                               calls, refused_calls, settled_by, decline_code, last_error, polls,
                               stray_detected_at, stray_refund_id, created_at, updated_at)
  SELECT pg_temp.bench__clone_id(v_salt, k, c.payment_id), c.provider,
         CASE WHEN strpos(c.idempotency_key, c.payment_id::text) > 0
              THEN replace(c.idempotency_key, c.payment_id::text, pg_temp.bench__clone_id(v_salt, k, c.payment_id)::text)
              ELSE pg_temp.bench__clone_ref(v_salt, k, c.idempotency_key) END,
         pg_temp.bench__clone_ref(v_salt, k, c.gateway_charge_id), c.amount, c.currency, c.status,
         c.calls, c.refused_calls, c.settled_by, c.decline_code, c.last_error, c.polls,
         c.stray_detected_at, pg_temp.bench__clone_ref(v_salt, k, c.stray_refund_id), c.created_at, c.updated_at
    FROM charge_attempts c CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, c.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('charge_attempts', v_n);

  INSERT INTO refunds (id, payment_id, amount, reason, status, gateway_refund_id, trace_id, created_at,
                       completed_at, failure_reason, gateway_calls, refused_calls)
  SELECT pg_temp.bench__clone_id(v_salt, k, r.id), pg_temp.bench__clone_id(v_salt, k, r.payment_id), r.amount,
         r.reason, r.status, pg_temp.bench__clone_ref(v_salt, k, r.gateway_refund_id), r.trace_id, r.created_at,
         r.completed_at, r.failure_reason, r.gateway_calls, r.refused_calls
    FROM refunds r CROSS JOIN generate_series(1, p_copies) k
   ORDER BY k, r.created_at, r.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_added := v_added || jsonb_build_object('refunds', v_n);
  RETURN v_added;
END;
$$;
