--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: replay; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA replay;


--
-- Name: audit__aggregates(uuid[], uuid[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__aggregates(p_wallets uuid[], p_payments uuid[]) RETURNS TABLE(check_name text, aggregate_id uuid)
    LANGUAGE sql STABLE
    AS $$
  SELECT 'wallet_balances', w.id
    FROM wallets w
    CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount), 0) AS total
                          FROM ledger_entries l WHERE l.wallet_id = w.id) l
    LEFT JOIN replay__wallets_of(p_wallets, false) r ON r.id = w.id
   WHERE w.id = ANY (p_wallets)
     AND (w.balance <> l.total OR w.balance <> coalesce(r.balance, 0) OR w.version IS DISTINCT FROM r.version)
  UNION ALL
  SELECT 'money_conservation', p.id
    FROM payments p
    CROSS JOIN LATERAL (
      SELECT coalesce(-sum(l.amount) FILTER (WHERE l.type = 'PAYMENT_DEBIT'), 0) AS debited,
             coalesce(sum(l.amount) FILTER (WHERE l.type = 'PAYMENT_REVERSAL'), 0) AS reversed,
             coalesce(sum(l.amount) FILTER (WHERE l.type = 'REFUND'), 0) AS refunded
        FROM ledger_entries l WHERE l.payment_id = p.id) l
   WHERE p.id = ANY (p_payments)
     AND (l.debited <> CASE WHEN p.saga_step IN ('debited', 'charge_requested', 'completed', 'failed')
                            THEN p.amount ELSE 0 END
          OR l.reversed <> CASE WHEN p.status = 'FAILED' THEN p.amount ELSE 0 END
          OR l.refunded <> p.refunded_amount)
  UNION ALL
  SELECT 'payment_status', p.id
    FROM payments p
    LEFT JOIN replay__payments_of(p_payments, false) r ON r.id = p.id
   WHERE p.id = ANY (p_payments)
     AND (r.id IS NULL
          OR p.status IS DISTINCT FROM r.status
          OR p.failure_reason IS DISTINCT FROM r.failure_reason
          OR p.refunded_amount IS DISTINCT FROM r.refunded_amount);
$$;


--
-- Name: audit__money_conservation(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__money_conservation() RETURNS TABLE(check_name text, expected numeric, actual numeric, ok boolean)
    LANGUAGE sql STABLE
    AS $$
  WITH ledger AS (
    SELECT coalesce(sum(amount) FILTER (WHERE type = 'DEPOSIT'), 0) AS deposits,
           coalesce(-sum(amount) FILTER (WHERE type = 'PAYMENT_DEBIT'), 0) AS debits,
           coalesce(sum(amount) FILTER (WHERE type = 'PAYMENT_REVERSAL'), 0) AS reversals,
           coalesce(sum(amount) FILTER (WHERE type = 'REFUND'), 0) AS refunds
      FROM ledger_entries
  ), pay AS (
    -- Debited: every payment past the debit step; FAILED ones are debited and then reversed.
    SELECT coalesce(sum(amount) FILTER (WHERE saga_step IN ('debited', 'charge_requested', 'completed', 'failed')), 0) AS debited,
           coalesce(sum(amount) FILTER (WHERE status = 'FAILED'), 0) AS reversed,
           coalesce(sum(refunded_amount), 0) AS refunded
      FROM payments
  ), bal AS (SELECT coalesce(sum(balance), 0) AS total FROM wallets)
  SELECT c.name, c.expected, c.actual, c.expected = c.actual
    FROM ledger, pay, bal,
         LATERAL (VALUES
           ('balances = deposits - debits + reversals + refunds',
              ledger.deposits - ledger.debits + ledger.reversals + ledger.refunds, bal.total::numeric),
           ('ledger debits = amounts of debited payments', pay.debited::numeric, ledger.debits),
           ('ledger reversals = amounts of FAILED payments', pay.reversed::numeric, ledger.reversals),
           ('ledger refunds = refunded amounts of payments', pay.refunded::numeric, ledger.refunds)
         ) AS c(name, expected, actual);
$$;


--
-- Name: audit__outbox(interval); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__outbox(p_retention interval DEFAULT '168:00:00'::interval) RETURNS TABLE(problem text, event_id uuid, outbox_id bigint)
    LANGUAGE sql STABLE
    AS $$
  SELECT 'outbox row without event', o.event_id, o.id
    FROM outbox o LEFT JOIN events e ON e.event_id = o.event_id
   WHERE e.event_id IS NULL
  UNION ALL
  SELECT 'event without outbox row', e.event_id, NULL
    FROM events e
   WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)
     AND (e.occurred_at > now() - p_retention
          OR e.occurred_at >= coalesce((SELECT min(last_commit_at) FROM relay_progress), '-infinity'));
$$;


--
-- Name: audit__payment_status(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__payment_status() RETURNS TABLE(payment_id uuid, live_status text, event_status text, live_refunded bigint, event_refunded bigint)
    LANGUAGE sql STABLE
    AS $$
  SELECT p.id, p.status, r.status, p.refunded_amount, r.refunded_amount
    FROM payments p
    LEFT JOIN replay__payments_from_events() r ON r.id = p.id
   WHERE r.id IS NULL
      OR p.status IS DISTINCT FROM r.status
      OR p.failure_reason IS DISTINCT FROM r.failure_reason
      OR p.refunded_amount IS DISTINCT FROM r.refunded_amount;
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_runs (
    id bigint NOT NULL,
    ran_at timestamp with time zone DEFAULT now() NOT NULL,
    discrepancies integer NOT NULL,
    details jsonb NOT NULL,
    kind text DEFAULT 'full'::text NOT NULL,
    through_position bigint,
    flagged jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT audit_discrepancies_non_negative CHECK ((discrepancies >= 0)),
    CONSTRAINT audit_run_flagged_is_object CHECK ((jsonb_typeof(flagged) = 'object'::text)),
    CONSTRAINT audit_run_kind_known CHECK ((kind = ANY (ARRAY['full'::text, 'incremental'::text])))
);


--
-- Name: audit__run(interval, interval); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__run(p_stuck_after interval DEFAULT '00:10:00'::interval, p_outbox_retention interval DEFAULT '168:00:00'::interval) RETURNS public.audit_runs
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_through bigint;
  v_bad_wallets uuid[];
  v_bad_payments uuid[];
  v_details jsonb;
  v_total integer;
  v_run audit_runs;
BEGIN
  -- Read before the checks: events committed meanwhile are looked at again by the next run.
  SELECT coalesce(max(position), 0) INTO v_through FROM events;
  SELECT coalesce(array_agg(wallet_id), '{}') INTO v_bad_wallets FROM audit__wallet_balances();
  SELECT coalesce(array_agg(payment_id), '{}') INTO v_bad_payments FROM audit__payment_status();
  v_details := jsonb_build_object(
    'wallet_balances', cardinality(v_bad_wallets),
    'money_conservation', (SELECT count(*) FROM audit__money_conservation() WHERE NOT ok),
    'stuck_payments', (SELECT count(*) FROM audit__stuck_payments(p_stuck_after)),
    'payment_status', cardinality(v_bad_payments),
    'outbox', (SELECT count(*) FROM audit__outbox(p_outbox_retention)),
    -- Rows the relay set aside as too large: not on Kafka until an operator resolves them.
    'relay_quarantine', (SELECT count(*) FROM relay_quarantine WHERE resolved_at IS NULL));
  SELECT sum(value::int) INTO v_total FROM jsonb_each_text(v_details);
  INSERT INTO audit_runs (discrepancies, details, kind, through_position, flagged)
  VALUES (v_total, v_details, 'full', v_through,
          jsonb_build_object('wallets', to_jsonb(v_bad_wallets[1:1000]), 'payments', to_jsonb(v_bad_payments[1:1000])))
  RETURNING * INTO v_run;
  DELETE FROM audit_runs WHERE ran_at < now() - interval '30 days';
  RETURN v_run;
END;
$$;


--
-- Name: audit__run_incremental(interval, interval, interval); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__run_incremental(p_stuck_after interval DEFAULT '00:10:00'::interval, p_outbox_retention interval DEFAULT '168:00:00'::interval, p_overlap interval DEFAULT '00:05:00'::interval) RETURNS public.audit_runs
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_from     bigint;
  v_through  bigint;
  v_inc      audit_runs;
  v_full     audit_runs;
  v_events   uuid[];
  v_missing  uuid[];
  v_wallets  uuid[];
  v_payments uuid[];
  v_found    record;
  v_flagged_wallets  uuid[] := '{}';
  v_flagged_payments uuid[] := '{}';
  v_details  jsonb;
  v_total    integer;
  v_run      audit_runs;
BEGIN
  SELECT r.through_position INTO v_from FROM audit_runs r
   WHERE r.through_position IS NOT NULL AND r.ran_at < now() - p_overlap
   ORDER BY r.ran_at DESC LIMIT 1;
  IF v_from IS NULL THEN
    RETURN audit__run(p_stuck_after, p_outbox_retention);
  END IF;
  SELECT coalesce(max(e.position), v_from) INTO v_through FROM events e;
  SELECT * INTO v_inc FROM audit_runs WHERE kind = 'incremental' ORDER BY id DESC LIMIT 1;
  SELECT * INTO v_full FROM audit_runs WHERE kind = 'full' ORDER BY id DESC LIMIT 1;

  SELECT coalesce(array_agg(DISTINCT e.aggregate_id) FILTER (WHERE e.aggregate_type = 'wallet'), '{}'),
         coalesce(array_agg(DISTINCT CASE WHEN e.aggregate_type = 'payment' THEN e.aggregate_id
                                          ELSE (e.data ->> 'payment_id')::uuid END)
                    FILTER (WHERE e.aggregate_type = 'payment' OR e.data ? 'payment_id'), '{}')
    INTO v_wallets, v_payments
    FROM events e WHERE e.position > v_from AND e.position <= v_through;
  v_wallets := v_wallets
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'wallets', '[]')))::uuid[]
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_full.flagged -> 'wallets', '[]')))::uuid[];
  v_payments := v_payments
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'payments', '[]')))::uuid[]
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_full.flagged -> 'payments', '[]')))::uuid[];
  v_events := ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'events', '[]')))::uuid[];

  v_details := jsonb_build_object('wallet_balances', 0, 'money_conservation', 0, 'payment_status', 0);
  FOR v_found IN SELECT * FROM audit__aggregates(v_wallets, v_payments) LOOP
    v_details := jsonb_set(v_details, ARRAY[v_found.check_name], to_jsonb((v_details ->> v_found.check_name)::int + 1));
    IF v_found.check_name = 'wallet_balances' THEN
      v_flagged_wallets := v_flagged_wallets || v_found.aggregate_id;
    ELSE
      v_flagged_payments := v_flagged_payments || v_found.aggregate_id;
    END IF;
  END LOOP;

  -- Events without their outbox row: the new ones, and those found so before.
  SELECT coalesce(array_agg(e.event_id), '{}') INTO v_missing
    FROM events e
   WHERE ((e.position > v_from AND e.position <= v_through) OR e.event_id = ANY (v_events))
     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)
     AND (e.occurred_at > now() - p_outbox_retention
          OR e.occurred_at >= coalesce((SELECT min(last_commit_at) FROM relay_progress), '-infinity'));

  v_details := v_details || jsonb_build_object(
    'stuck_payments', (SELECT count(*) FROM audit__stuck_payments(p_stuck_after)),
    'outbox', greatest(cardinality(v_missing), coalesce((v_full.details ->> 'outbox')::int, 0)),
    'relay_quarantine', (SELECT count(*) FROM relay_quarantine WHERE resolved_at IS NULL));
  v_details := jsonb_set(v_details, '{money_conservation}', to_jsonb(greatest(
    (v_details ->> 'money_conservation')::int, coalesce((v_full.details ->> 'money_conservation')::int, 0))));
  SELECT sum(value::int) INTO v_total FROM jsonb_each_text(v_details);
  INSERT INTO audit_runs (discrepancies, details, kind, through_position, flagged)
  VALUES (v_total, v_details, 'incremental', v_through,
          jsonb_build_object('wallets', (SELECT coalesce(jsonb_agg(DISTINCT w), '[]') FROM unnest(v_flagged_wallets) w),
                             'payments', (SELECT coalesce(jsonb_agg(DISTINCT p), '[]') FROM unnest(v_flagged_payments) p),
                             'events', to_jsonb(v_missing[1:1000])))
  RETURNING * INTO v_run;
  DELETE FROM audit_runs WHERE ran_at < now() - interval '30 days';
  RETURN v_run;
END;
$$;


--
-- Name: audit__stuck_payments(interval, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__stuck_payments(p_older_than interval DEFAULT '00:05:00'::interval, p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(payment_id uuid, status text, saga_step text, updated_at timestamp with time zone, stuck_for interval)
    LANGUAGE sql STABLE
    AS $$
  SELECT p.id, p.status, p.saga_step, p.updated_at, p_now - p.updated_at
    FROM payments p
   WHERE p.status IN ('PENDING', 'PROCESSING') AND p.updated_at < p_now - p_older_than
   ORDER BY p.updated_at;
$$;


--
-- Name: audit__wallet_balances(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__wallet_balances() RETURNS TABLE(wallet_id uuid, balance bigint, ledger_sum numeric, event_balance bigint, version integer, event_version integer)
    LANGUAGE sql STABLE
    AS $$
  WITH ledger AS (
    SELECT l.wallet_id, sum(l.amount) AS total FROM ledger_entries l GROUP BY l.wallet_id
  )
  SELECT w.id, w.balance, coalesce(l.total, 0), coalesce(r.balance, 0), w.version, r.version
    FROM wallets w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN replay__wallets_from_events() r ON r.id = w.id
   WHERE w.balance <> coalesce(l.total, 0)
      OR w.balance <> coalesce(r.balance, 0)
      OR w.version IS DISTINCT FROM r.version;
$$;


--
-- Name: dead_letter__replay(bigint, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.dead_letter__replay(p_id bigint, p_max_attempts integer DEFAULT 5) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: dead_letter__replay_crash_spent(integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.dead_letter__replay_crash_spent(p_max_attempts integer DEFAULT 5, p_max_auto integer DEFAULT 3) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_letter record;
  v_count integer := 0;
BEGIN
  FOR v_letter IN
    SELECT d.id FROM dead_letter_jobs d
     WHERE d.replayed_at IS NULL AND d.resolved_at IS NULL
       AND d.last_error = 'unknown' AND d.task LIKE 'payment\_\_%'
       AND (SELECT count(*) FROM dead_letter_jobs p
             WHERE p.replayed_by = 'product' AND p.task = d.task
               AND p.payload - 'traceparent' = d.payload - 'traceparent') < p_max_auto
     ORDER BY d.id
  LOOP
    PERFORM dead_letter__replay(v_letter.id, p_max_attempts);
    UPDATE dead_letter_jobs SET replayed_by = 'product' WHERE id = v_letter.id;
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END;
$$;


--
-- Name: dead_letter__resolve_settled(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.dead_letter__resolve_settled() RETURNS bigint
    LANGUAGE sql
    AS $$
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


--
-- Name: dead_letter__sweep(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.dead_letter__sweep() RETURNS bigint
    LANGUAGE sql
    AS $_$
  -- The task's name from graphile-worker's public view; the payload (which the view leaves out)
  -- from the rows complete_jobs returns.
  WITH spent AS (
    SELECT id, task_identifier FROM graphile_worker.jobs WHERE attempts >= max_attempts AND locked_at IS NULL
  ), moved AS (
    SELECT * FROM graphile_worker.complete_jobs(array(SELECT id FROM spent))
  ), inserted AS (
    INSERT INTO dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
    SELECT m.id, s.task_identifier, m.payload::jsonb, m.attempts, coalesce(m.last_error, 'unknown'),
           CASE WHEN m.payload::jsonb ->> 'paymentId' ~ '^[0-9a-f-]{36}$' THEN (m.payload::jsonb ->> 'paymentId')::uuid END,
           m.created_at
      FROM moved m JOIN spent s ON s.id = m.id
     WHERE s.task_identifier NOT LIKE 'maintenance\_\_%'
    ON CONFLICT (job_id) DO NOTHING
    RETURNING 1
  )
  SELECT count(*) FROM inserted;
$_$;


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    "position" bigint NOT NULL,
    event_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    version integer NOT NULL,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    trace_id text NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT event_aggregate_type_known CHECK ((aggregate_type = ANY (ARRAY['wallet'::text, 'payment'::text]))),
    CONSTRAINT event_data_is_object CHECK ((jsonb_typeof(data) = 'object'::text)),
    CONSTRAINT event_type_dotted_lower_case CHECK ((event_type ~ '^[a-z]+(\.[a-z_]+)+$'::text)),
    CONSTRAINT event_version_positive CHECK ((version > 0))
);


--
-- Name: event__append(uuid, text, uuid, integer, text, jsonb, text, text, json, text, timestamp with time zone, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.event__append(p_event_id uuid, p_aggregate_type text, p_aggregate_id uuid, p_expected_version integer, p_event_type text, p_data jsonb, p_trace_id text, p_job_identifier text DEFAULT NULL::text, p_job_payload json DEFAULT NULL::json, p_job_key text DEFAULT NULL::text, p_job_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_job_max_attempts integer DEFAULT NULL::integer) RETURNS public.events
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_current integer;
  v_event   events;
BEGIN
  SELECT e.version INTO v_current
    FROM events e WHERE e.aggregate_id = p_aggregate_id
    ORDER BY e.version DESC LIMIT 1;
  IF coalesce(v_current, 0) <> p_expected_version THEN
    RAISE EXCEPTION 'stale version for % %: expected %, current %',
      p_aggregate_type, p_aggregate_id, p_expected_version, coalesce(v_current, 0)
      USING ERRCODE = 'WP001';
  END IF;

  INSERT INTO events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
  VALUES (p_event_id, p_aggregate_type, p_aggregate_id, p_expected_version + 1, p_event_type, p_data, p_trace_id)
  RETURNING * INTO v_event;

  PERFORM outbox__write(v_event);

  IF p_job_identifier IS NOT NULL THEN
    PERFORM graphile_worker.add_job(
      p_job_identifier,
      coalesce(p_job_payload, '{}'::json),
      job_key => p_job_key,
      -- Not now(), the transaction's start: the job is scheduled when it is enqueued, so the
      -- pickup latency measured from run_at is the queue's, not this transaction's duration.
      run_at => coalesce(p_job_run_at, clock_timestamp()),
      max_attempts => coalesce(p_job_max_attempts, 25));
  END IF;

  RETURN v_event;
END;
$$;


--
-- Name: event__envelope(public.events); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.event__envelope(p_event public.events) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
  SELECT jsonb_build_object(
    'event_id', p_event.event_id,
    'event_type', p_event.event_type,
    'aggregate_type', p_event.aggregate_type,
    'aggregate_id', p_event.aggregate_id,
    'version', p_event.version,
    'occurred_at', to_char(p_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'trace_id', p_event.trace_id,
    'data', p_event.data);
$$;


--
-- Name: heartbeat__beat(text, text, integer, text, text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.heartbeat__beat(p_instance_id text, p_role text, p_pid integer, p_hostname text, p_graphile_worker_ids text[] DEFAULT '{}'::text[]) RETURNS void
    LANGUAGE sql
    AS $$
  INSERT INTO process_heartbeats (instance_id, role, pid, hostname, graphile_worker_ids)
  VALUES (p_instance_id, p_role, p_pid, p_hostname, p_graphile_worker_ids)
  ON CONFLICT (instance_id) DO UPDATE
    SET last_seen_at = now(), graphile_worker_ids = excluded.graphile_worker_ids;
$$;


--
-- Name: idempotency__prune(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.idempotency__prune(p_now timestamp with time zone DEFAULT now()) RETURNS bigint
    LANGUAGE sql
    AS $$
  WITH gone AS (
    DELETE FROM idempotency_keys
     WHERE expires_at < p_now
       AND NOT (status = 'IN_PROGRESS' AND locked_until > p_now)
    RETURNING 1
  )
  SELECT count(*) FROM gone;
$$;


--
-- Name: job__apply(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.job__apply(p_job jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF p_job ? 'remove_key' THEN
    PERFORM graphile_worker.remove_job(p_job ->> 'remove_key');
    RETURN;
  END IF;
  PERFORM graphile_worker.add_job(
    p_job ->> 'task', coalesce((p_job -> 'payload')::json, '{}'::json),
    job_key => p_job ->> 'key',
    run_at => clock_timestamp() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::float8, 0)),
    max_attempts => coalesce((p_job ->> 'max_attempts')::integer, 25));
END;
$$;


--
-- Name: outbox__prune(interval, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox__prune(p_older_than interval, p_now timestamp with time zone DEFAULT now()) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_relayed_until timestamptz;
  v_count bigint;
BEGIN
  SELECT min(last_commit_at) INTO v_relayed_until FROM relay_progress;
  IF v_relayed_until IS NULL THEN
    RETURN 0;  -- nothing is known to be relayed yet
  END IF;
  PERFORM set_config('app.outbox_prune', 'on', true);
  DELETE FROM outbox
   WHERE created_at < p_now - p_older_than
     AND created_at < v_relayed_until;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  PERFORM set_config('app.outbox_prune', 'off', true);
  RETURN v_count;
END;
$$;


--
-- Name: outbox__republish(bigint, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox__republish(p_from_position bigint, p_to_position bigint) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_event events;
  v_count bigint := 0;
BEGIN
  PERFORM set_config('app.outbox_prune', 'on', true);
  DELETE FROM outbox o USING events e
   WHERE o.event_id = e.event_id AND e.position BETWEEN p_from_position AND p_to_position;
  PERFORM set_config('app.outbox_prune', 'off', true);
  FOR v_event IN SELECT * FROM events WHERE position BETWEEN p_from_position AND p_to_position ORDER BY position LOOP
    PERFORM outbox__write(v_event);
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END;
$$;


--
-- Name: outbox__write(public.events); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox__write(p_event public.events) RETURNS void
    LANGUAGE sql
    AS $$
  INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
  VALUES (
    p_event.event_id,
    p_event.aggregate_type || 's.events',
    p_event.aggregate_id::text,
    p_event.event_type,
    jsonb_strip_nulls(jsonb_build_object(
      'event_id', p_event.event_id,
      'event_type', p_event.event_type,
      'trace_id', p_event.trace_id,
      'traceparent', nullif(current_setting('app.traceparent', true), ''))),
    event__envelope(p_event));
$$;


--
-- Name: outbox_refuse_unapproved_delete(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_refuse_unapproved_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF coalesce(current_setting('app.outbox_prune', true), '') <> 'on' THEN
    RAISE EXCEPTION 'outbox rows are deleted only by retention (app.outbox_prune)'
      USING ERRCODE = 'WP002';
  END IF;
  RETURN NULL;
END;
$$;


--
-- Name: payments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payments (
    id uuid NOT NULL,
    wallet_id uuid NOT NULL,
    service_id text NOT NULL,
    amount bigint NOT NULL,
    currency character(3) NOT NULL,
    method text DEFAULT 'balance'::text NOT NULL,
    description text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text NOT NULL,
    saga_step text NOT NULL,
    failure_reason text,
    provider text,
    refunded_amount bigint DEFAULT 0 NOT NULL,
    refund_reserved bigint DEFAULT 0 NOT NULL,
    version integer NOT NULL,
    trace_id text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    owner_id text NOT NULL,
    CONSTRAINT payment_amount_in_range CHECK (((amount >= 1) AND (amount <= '1000000000000'::bigint))),
    CONSTRAINT payment_currency_iso4217 CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT payment_description_length CHECK ((length(description) <= 500)),
    CONSTRAINT payment_failure_reason_iff_failed CHECK (((status = ANY (ARRAY['REJECTED'::text, 'FAILED'::text])) = (failure_reason IS NOT NULL))),
    CONSTRAINT payment_failure_reason_known CHECK ((failure_reason = ANY (ARRAY['FRAUD_SUSPECTED'::text, 'INSUFFICIENT_FUNDS'::text, 'GATEWAY_DECLINED'::text, 'GATEWAY_UNAVAILABLE'::text]))),
    CONSTRAINT payment_metadata_is_object CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT payment_method_known CHECK ((method = 'balance'::text)),
    CONSTRAINT payment_refunds_within_amount CHECK (((refunded_amount >= 0) AND (refund_reserved >= 0) AND ((refunded_amount + refund_reserved) <= amount))),
    CONSTRAINT payment_saga_step_known CHECK ((saga_step = ANY (ARRAY['requested'::text, 'fraud_checked'::text, 'debited'::text, 'charge_requested'::text, 'completed'::text, 'rejected'::text, 'failed'::text]))),
    CONSTRAINT payment_service_id_length CHECK (((length(service_id) >= 1) AND (length(service_id) <= 128))),
    CONSTRAINT payment_status_known CHECK ((status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text, 'COMPLETED'::text, 'REJECTED'::text, 'FAILED'::text, 'PARTIALLY_REFUNDED'::text, 'REFUNDED'::text]))),
    CONSTRAINT payment_version_positive CHECK ((version > 0))
);


--
-- Name: payment__change(uuid, integer, jsonb, jsonb, jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.payment__change(p_payment_id uuid, p_expected_version integer, p_events jsonb, p_changes jsonb, p_steps jsonb DEFAULT '[]'::jsonb, p_jobs jsonb DEFAULT '[]'::jsonb) RETURNS public.payments
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_old     payments;
  v_new     payments;
  v_version integer := p_expected_version;
  v_event   jsonb;
  v_job     jsonb;
  v_unknown text;
BEGIN
  SELECT k INTO v_unknown FROM jsonb_object_keys(p_changes) k
   WHERE k NOT IN ('saga_step', 'status', 'failure_reason', 'provider',
                   'refunded_amount', 'refund_reserved')
   LIMIT 1;
  IF v_unknown IS NOT NULL THEN
    RAISE EXCEPTION 'payment__change cannot set column %', v_unknown
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT * INTO v_old FROM payments WHERE id = p_payment_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % not found', p_payment_id USING ERRCODE = 'no_data_found';
  END IF;

  FOR v_event IN SELECT e FROM jsonb_array_elements(p_events) e LOOP
    v_job := nullif(v_event -> 'job', 'null'::jsonb);
    PERFORM event__append(
      (v_event ->> 'event_id')::uuid, 'payment', p_payment_id, v_version,
      v_event ->> 'type', v_event -> 'data', v_old.trace_id,
      v_job ->> 'task', (v_job -> 'payload')::json, v_job ->> 'key',
      -- A delay, not a time: run_at is reckoned by this database's clock, never the caller's.
      clock_timestamp() + make_interval(secs => (v_job ->> 'delay_seconds')::float8),
      (v_job ->> 'max_attempts')::integer);
    v_version := v_version + 1;
  END LOOP;

  PERFORM job__apply(j) FROM jsonb_array_elements(p_jobs) j;

  INSERT INTO payment_steps (payment_id, name, status, attempt, detail)
  SELECT p_payment_id, s ->> 'name', s ->> 'status', coalesce((s ->> 'attempt')::integer, 1),
         nullif(s -> 'detail', 'null'::jsonb)
    FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS t(s, n)
   ORDER BY n
  ON CONFLICT ON CONSTRAINT payment_step_once_per_attempt DO NOTHING;

  v_new := jsonb_populate_record(v_old, p_changes);
  UPDATE payments SET
    saga_step       = v_new.saga_step,
    status          = v_new.status,
    failure_reason  = v_new.failure_reason,
    provider        = v_new.provider,
    completed_at    = CASE WHEN v_old.status IN ('PENDING', 'PROCESSING')
                                AND v_new.status IN ('COMPLETED', 'REJECTED', 'FAILED')
                           THEN now() ELSE v_old.completed_at END,
    refunded_amount = v_new.refunded_amount,
    refund_reserved = v_new.refund_reserved,
    version         = v_version,
    updated_at      = now()
  WHERE id = p_payment_id
  RETURNING * INTO v_new;

  IF v_old.status NOT IN ('COMPLETED', 'REJECTED', 'FAILED')
     AND v_new.status IN ('COMPLETED', 'REJECTED', 'FAILED') THEN
    PERFORM pg_notify('payment_settled', p_payment_id::text);
  END IF;
  RETURN v_new;
END;
$$;


--
-- Name: payment__create(jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.payment__create(p_payment jsonb, p_event jsonb) RETURNS public.payments
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: payment__redrive_stuck(interval, integer, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.payment__redrive_stuck(p_older_than interval, p_max_attempts integer DEFAULT 5, p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(payment_id uuid, task text)
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: refuse_mutation(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refuse_mutation() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'WP002', HINT = 'Write a compensating row instead.';
END;
$$;


--
-- Name: relay_quarantine; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.relay_quarantine (
    id bigint NOT NULL,
    outbox_id bigint NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    key text NOT NULL,
    size_bytes integer NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    quarantined_at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    resolution text,
    resolution_note text,
    CONSTRAINT relay_quarantine_reason_known CHECK ((reason = ANY (ARRAY['message_too_large'::text, 'broker_refused_too_large'::text]))),
    CONSTRAINT relay_quarantine_resolution_known CHECK ((resolution = ANY (ARRAY['republished'::text, 'accepted'::text]))),
    CONSTRAINT relay_quarantine_resolution_when_resolved CHECK (((resolved_at IS NULL) = (resolution IS NULL)))
);


--
-- Name: relay_quarantine__resolve(bigint, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.relay_quarantine__resolve(p_id bigint, p_resolution text, p_note text DEFAULT NULL::text) RETURNS public.relay_quarantine
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_entry relay_quarantine;
  v_position bigint;
BEGIN
  SELECT * INTO v_entry FROM relay_quarantine WHERE id = p_id AND resolved_at IS NULL FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no open relay_quarantine entry %', p_id USING ERRCODE = 'WP010';
  END IF;
  IF p_resolution = 'accepted' AND coalesce(btrim(p_note), '') = '' THEN
    RAISE EXCEPTION 'accepting a quarantined row needs a note saying why' USING ERRCODE = 'WP011';
  END IF;
  IF p_resolution = 'republished' THEN
    SELECT position INTO v_position FROM events WHERE event_id = v_entry.event_id;
    PERFORM outbox__republish(v_position, v_position);
  END IF;
  UPDATE relay_quarantine
     SET resolved_at = now(), resolution = p_resolution, resolution_note = p_note
   WHERE id = p_id
  RETURNING * INTO v_entry;
  RETURN v_entry;
END;
$$;


--
-- Name: replay__payments_from_events(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__payments_from_events(p_payment_id uuid DEFAULT NULL::uuid) RETURNS TABLE(id uuid, wallet_id uuid, amount bigint, status text, failure_reason text, provider text, refunded_amount bigint, version integer)
    LANGUAGE sql STABLE
    AS $$
  SELECT * FROM replay__payments_of(ARRAY[p_payment_id], p_payment_id IS NULL);
$$;


--
-- Name: replay__payments_of(uuid[], boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__payments_of(p_ids uuid[], p_all boolean) RETURNS TABLE(id uuid, wallet_id uuid, amount bigint, status text, failure_reason text, provider text, refunded_amount bigint, version integer)
    LANGUAGE sql STABLE
    AS $$
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


--
-- Name: replay__repair(text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__repair(p_reason text, p_aggregate_id uuid DEFAULT NULL::uuid) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_diff record;
  v_changed integer := 0;
BEGIN
  IF p_reason IS NULL OR length(trim(p_reason)) = 0 THEN
    RAISE EXCEPTION 'replay__repair needs a reason' USING ERRCODE = 'WP005';
  END IF;
  FOR v_diff IN SELECT * FROM replay__verify(p_aggregate_id) LOOP
    INSERT INTO replay_repairs (reason, aggregate_type, aggregate_id, field, live_value, replayed_value)
    VALUES (p_reason, v_diff.aggregate_type, v_diff.aggregate_id, v_diff.field, v_diff.live, v_diff.replayed);
    CONTINUE WHEN v_diff.field = 'row';
    IF v_diff.aggregate_type = 'wallet' AND v_diff.field IN ('balance', 'version') THEN
      UPDATE wallets w SET balance = r.balance, version = r.version, updated_at = now()
        FROM replay.wallets r WHERE r.id = w.id AND w.id = v_diff.aggregate_id;
      v_changed := v_changed + 1;
    ELSIF v_diff.aggregate_type = 'payment'
          AND v_diff.field IN ('status', 'failure_reason', 'provider', 'refunded_amount', 'version') THEN
      UPDATE payments p SET status = r.status, failure_reason = r.failure_reason, provider = r.provider,
                            refunded_amount = r.refunded_amount, version = r.version, updated_at = now()
        FROM replay.payments r WHERE r.id = p.id AND p.id = v_diff.aggregate_id;
      v_changed := v_changed + 1;
    END IF;
  END LOOP;
  RETURN v_changed;
END;
$$;


--
-- Name: replay__verify(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__verify(p_aggregate_id uuid DEFAULT NULL::uuid) RETURNS TABLE(aggregate_type text, aggregate_id uuid, field text, live text, replayed text)
    LANGUAGE plpgsql
    AS $$
BEGIN
  DELETE FROM replay.wallets r WHERE p_aggregate_id IS NULL OR r.id = p_aggregate_id;
  INSERT INTO replay.wallets SELECT * FROM replay__wallets_from_events(p_aggregate_id);
  DELETE FROM replay.payments r WHERE p_aggregate_id IS NULL OR r.id = p_aggregate_id;
  INSERT INTO replay.payments SELECT * FROM replay__payments_from_events(p_aggregate_id);

  RETURN QUERY
  SELECT 'wallet'::text, coalesce(w.id, r.id), f.name, f.live, f.replayed
    FROM (SELECT * FROM wallets x WHERE p_aggregate_id IS NULL OR x.id = p_aggregate_id) w
    FULL JOIN (SELECT * FROM replay.wallets y WHERE p_aggregate_id IS NULL OR y.id = p_aggregate_id) r ON r.id = w.id
    CROSS JOIN LATERAL (VALUES
      ('row', CASE WHEN w.id IS NULL THEN '(missing)' ELSE 'present' END, CASE WHEN r.id IS NULL THEN '(missing)' ELSE 'present' END),
      ('balance', w.balance::text, r.balance::text),
      ('version', w.version::text, r.version::text),
      ('currency', w.currency::text, r.currency),
      ('owner_id', w.owner_id, r.owner_id)
    ) AS f(name, live, replayed)
   WHERE f.live IS DISTINCT FROM f.replayed
  UNION ALL
  SELECT 'payment'::text, coalesce(p.id, r.id), f.name, f.live, f.replayed
    FROM (SELECT * FROM payments x WHERE p_aggregate_id IS NULL OR x.id = p_aggregate_id) p
    FULL JOIN (SELECT * FROM replay.payments y WHERE p_aggregate_id IS NULL OR y.id = p_aggregate_id) r ON r.id = p.id
    CROSS JOIN LATERAL (VALUES
      ('row', CASE WHEN p.id IS NULL THEN '(missing)' ELSE 'present' END, CASE WHEN r.id IS NULL THEN '(missing)' ELSE 'present' END),
      ('status', p.status, r.status),
      ('failure_reason', p.failure_reason, r.failure_reason),
      ('provider', p.provider, r.provider),
      ('refunded_amount', p.refunded_amount::text, r.refunded_amount::text),
      ('version', p.version::text, r.version::text),
      ('amount', p.amount::text, r.amount::text),
      ('wallet_id', p.wallet_id::text, r.wallet_id::text)
    ) AS f(name, live, replayed)
   WHERE f.live IS DISTINCT FROM f.replayed
   ORDER BY 1, 2, 3;
END;
$$;


--
-- Name: replay__wallets_from_events(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__wallets_from_events(p_wallet_id uuid DEFAULT NULL::uuid) RETURNS TABLE(id uuid, owner_id text, currency text, balance bigint, version integer)
    LANGUAGE sql STABLE
    AS $$
  SELECT * FROM replay__wallets_of(ARRAY[p_wallet_id], p_wallet_id IS NULL);
$$;


--
-- Name: replay__wallets_of(uuid[], boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay__wallets_of(p_ids uuid[], p_all boolean) RETURNS TABLE(id uuid, owner_id text, currency text, balance bigint, version integer)
    LANGUAGE sql STABLE
    AS $$
  SELECT e.aggregate_id,
         max(e.data ->> 'owner_id') FILTER (WHERE e.event_type = 'wallet.created'),
         max(e.data ->> 'currency') FILTER (WHERE e.event_type = 'wallet.created'),
         coalesce(sum(CASE e.event_type
                        WHEN 'wallet.deposited' THEN (e.data ->> 'amount')::bigint
                        WHEN 'wallet.debited' THEN -(e.data ->> 'amount')::bigint
                        WHEN 'wallet.debit_reversed' THEN (e.data ->> 'amount')::bigint
                        WHEN 'wallet.refund_credited' THEN (e.data ->> 'amount')::bigint
                        ELSE 0 END), 0)::bigint,
         max(e.version)
    FROM events e
   WHERE e.aggregate_type = 'wallet' AND (p_all OR e.aggregate_id = ANY (p_ids))
   GROUP BY e.aggregate_id;
$$;


--
-- Name: wallet__move(uuid, text, bigint, uuid, text, text, text, uuid, uuid, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.wallet__move(p_wallet_id uuid, p_entry_type text, p_amount bigint, p_payment_id uuid, p_source_ref text, p_reference text, p_trace_id text, p_event_id uuid, p_entry_id uuid, p_event_type text, p_event_data jsonb) RETURNS TABLE(refused text, id uuid, owner_id text, currency text, balance bigint, version integer, created_at timestamp with time zone, updated_at timestamp with time zone, entry_seq bigint, entry_amount bigint, entry_balance_after bigint, entry_created_at timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_wallet wallets;
  v_signed bigint;
  v_after  numeric;
  v_entry  ledger_entries;
BEGIN
  SELECT * INTO v_wallet FROM wallets w WHERE w.id = p_wallet_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    refused := 'WALLET_NOT_FOUND';
    RETURN NEXT;
    RETURN;
  END IF;
  v_signed := CASE p_entry_type WHEN 'PAYMENT_DEBIT' THEN -p_amount ELSE p_amount END;
  v_after := v_wallet.balance::numeric + v_signed;
  refused := CASE WHEN v_after < 0 THEN 'INSUFFICIENT_FUNDS'
                  WHEN v_after > 9007199254740991 THEN 'BALANCE_LIMIT_EXCEEDED' END;

  IF refused IS NULL THEN
    PERFORM event__append(p_event_id, 'wallet', v_wallet.id, v_wallet.version, p_event_type,
                          p_event_data || jsonb_build_object('entry_id', p_entry_id, 'balance_after', v_after,
                                                             'currency', v_wallet.currency),
                          p_trace_id);
    INSERT INTO ledger_entries (id, wallet_id, type, amount, balance_after, payment_id, source_ref, reference, event_id)
    VALUES (p_entry_id, v_wallet.id, p_entry_type, v_signed, v_after, p_payment_id, p_source_ref, p_reference, p_event_id)
    RETURNING * INTO v_entry;
    UPDATE wallets w SET balance = v_after, version = v_wallet.version + 1, updated_at = now()
     WHERE w.id = v_wallet.id
    RETURNING * INTO v_wallet;
  END IF;

  id := v_wallet.id; owner_id := v_wallet.owner_id; currency := v_wallet.currency;
  balance := v_wallet.balance; version := v_wallet.version;
  created_at := v_wallet.created_at; updated_at := v_wallet.updated_at;
  entry_seq := v_entry.seq; entry_amount := v_entry.amount;
  entry_balance_after := v_entry.balance_after; entry_created_at := v_entry.created_at;
  RETURN NEXT;
END;
$$;


--
-- Name: worker__unlock_dead(integer, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.worker__unlock_dead(p_dead_after_seconds integer, p_now timestamp with time zone DEFAULT now()) RETURNS text[]
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_dead text[];
BEGIN
  SELECT array_agg(DISTINCT j.locked_by) INTO v_dead
    FROM graphile_worker.jobs j
   WHERE j.locked_by IS NOT NULL
     AND j.locked_at < p_now - make_interval(secs => p_dead_after_seconds)
     AND NOT EXISTS (
       SELECT 1 FROM process_heartbeats h
        WHERE h.role = 'worker'
          AND h.last_seen_at > p_now - make_interval(secs => p_dead_after_seconds)
          AND j.locked_by = ANY (h.graphile_worker_ids));
  IF v_dead IS NOT NULL THEN
    PERFORM graphile_worker.force_unlock_workers(v_dead);
  END IF;
  DELETE FROM process_heartbeats
   WHERE role = 'worker' AND last_seen_at < p_now - make_interval(secs => greatest(p_dead_after_seconds * 10, 300));
  RETURN coalesce(v_dead, '{}');
END;
$$;


--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id uuid NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    owner_id text NOT NULL,
    scopes text[] NOT NULL,
    description text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_key_description_length CHECK ((length(description) <= 200)),
    CONSTRAINT api_key_hash_is_sha256 CHECK ((length(key_hash) = 32)),
    CONSTRAINT api_key_owner_id_length CHECK (((length(owner_id) >= 1) AND (length(owner_id) <= 128))),
    CONSTRAINT api_key_scopes_known CHECK (((scopes = '{read}'::text[]) OR (scopes = '{read,write}'::text[])))
);


--
-- Name: audit_runs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.audit_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: charge_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.charge_attempts (
    id bigint NOT NULL,
    payment_id uuid NOT NULL,
    provider text NOT NULL,
    idempotency_key text,
    gateway_charge_id text,
    amount bigint NOT NULL,
    currency character(3) NOT NULL,
    status text NOT NULL,
    calls integer DEFAULT 0 NOT NULL,
    refused_calls integer DEFAULT 0 NOT NULL,
    settled_by text,
    decline_code text,
    last_error text,
    polls integer DEFAULT 0 NOT NULL,
    stray_detected_at timestamp with time zone,
    stray_refund_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT charge_attempt_amount_positive CHECK ((amount > 0)),
    CONSTRAINT charge_attempt_known_charge_has_id CHECK (((status = ANY (ARRAY['unknown'::text, 'not_created'::text])) OR (gateway_charge_id IS NOT NULL))),
    CONSTRAINT charge_attempt_provider_known CHECK ((provider = ANY (ARRAY['alpha'::text, 'beta'::text]))),
    CONSTRAINT charge_attempt_refusals_counted CHECK (((refused_calls >= 0) AND (refused_calls <= calls))),
    CONSTRAINT charge_attempt_status_known CHECK ((status = ANY (ARRAY['unknown'::text, 'not_created'::text, 'pending'::text, 'succeeded'::text, 'failed'::text, 'canceled'::text]))),
    CONSTRAINT charge_attempt_stray_succeeded CHECK (((stray_detected_at IS NULL) OR (status = 'succeeded'::text)))
);


--
-- Name: charge_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.charge_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.charge_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: dead_letter_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dead_letter_jobs (
    id bigint NOT NULL,
    job_id bigint NOT NULL,
    task text NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    payment_id uuid,
    first_failed_at timestamp with time zone NOT NULL,
    last_failed_at timestamp with time zone DEFAULT now() NOT NULL,
    replayed_at timestamp with time zone,
    replay_job_id bigint,
    resolved_at timestamp with time zone,
    resolution text,
    replayed_by text,
    CONSTRAINT dead_letter_replayed_by_known CHECK ((replayed_by = ANY (ARRAY['operator'::text, 'product'::text]))),
    CONSTRAINT dead_letter_resolution_given CHECK (((resolved_at IS NULL) = (resolution IS NULL)))
);


--
-- Name: dead_letter_jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.dead_letter_jobs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.dead_letter_jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events_position_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.events ALTER COLUMN "position" ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_position_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: fraud_blocklist; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.fraud_blocklist (
    kind text NOT NULL,
    value text NOT NULL,
    reason text NOT NULL,
    added_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT fraud_blocklist_kind_known CHECK ((kind = ANY (ARRAY['wallet'::text, 'owner'::text, 'service'::text])))
);


--
-- Name: gateway_reconciliation_checks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gateway_reconciliation_checks (
    payment_id uuid NOT NULL,
    checked_version integer NOT NULL,
    checked_at timestamp with time zone DEFAULT now() NOT NULL,
    clean boolean NOT NULL
);


--
-- Name: gateway_reconciliation_differences; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gateway_reconciliation_differences (
    id bigint NOT NULL,
    payment_id uuid NOT NULL,
    provider text NOT NULL,
    kind text NOT NULL,
    detail jsonb NOT NULL,
    found_at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    resolution text,
    CONSTRAINT reconciliation_kind_known CHECK ((kind = ANY (ARRAY['charge_missing'::text, 'unexpected_charge'::text, 'amount_mismatch'::text, 'refunds_mismatch'::text, 'lookup_failed'::text]))),
    CONSTRAINT reconciliation_resolution_given CHECK (((resolved_at IS NULL) = (resolution IS NULL)))
);


--
-- Name: gateway_reconciliation_differences_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.gateway_reconciliation_differences ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.gateway_reconciliation_differences_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: gateway_webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.gateway_webhook_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    charge_id text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status text NOT NULL,
    claim_token uuid NOT NULL,
    locked_until timestamp with time zone NOT NULL,
    response_status integer,
    response_body jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    expires_at timestamp with time zone NOT NULL,
    owner_id text NOT NULL,
    CONSTRAINT idempotency_completed_has_response CHECK (((status = 'COMPLETED'::text) = ((response_status IS NOT NULL) AND (completed_at IS NOT NULL)))),
    CONSTRAINT idempotency_key_length CHECK (((length(key) >= 1) AND (length(key) <= 255))),
    CONSTRAINT idempotency_status_known CHECK ((status = ANY (ARRAY['IN_PROGRESS'::text, 'COMPLETED'::text])))
);


--
-- Name: ledger_entries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_entries (
    id uuid NOT NULL,
    seq bigint NOT NULL,
    wallet_id uuid NOT NULL,
    type text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    payment_id uuid,
    source_ref text NOT NULL,
    reference text,
    event_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ledger_amount_sign_matches_type CHECK ((((type = 'PAYMENT_DEBIT'::text) AND (amount < 0)) OR ((type <> 'PAYMENT_DEBIT'::text) AND (amount > 0)))),
    CONSTRAINT ledger_balance_after_non_negative CHECK ((balance_after >= 0)),
    CONSTRAINT ledger_entry_type_known CHECK ((type = ANY (ARRAY['DEPOSIT'::text, 'PAYMENT_DEBIT'::text, 'PAYMENT_REVERSAL'::text, 'REFUND'::text]))),
    CONSTRAINT ledger_payment_entries_name_payment CHECK (((type = 'DEPOSIT'::text) = (payment_id IS NULL)))
);


--
-- Name: ledger_entries_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.ledger_entries ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ledger_entries_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    event_id uuid NOT NULL,
    topic text NOT NULL,
    key text NOT NULL,
    event_type text NOT NULL,
    headers jsonb NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT outbox_topic_known CHECK ((topic = ANY (ARRAY['wallets.events'::text, 'payments.events'::text])))
);


--
-- Name: outbox_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: payment_steps; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payment_steps (
    id bigint NOT NULL,
    payment_id uuid NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    attempt integer DEFAULT 1 NOT NULL,
    detail jsonb,
    at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: payment_steps_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.payment_steps ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.payment_steps_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: process_heartbeats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.process_heartbeats (
    instance_id text NOT NULL,
    role text NOT NULL,
    pid integer NOT NULL,
    hostname text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    graphile_worker_ids text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT heartbeat_role_known CHECK ((role = ANY (ARRAY['api'::text, 'worker'::text, 'relay'::text])))
);


--
-- Name: rate_limits; Type: TABLE; Schema: public; Owner: -
--

CREATE UNLOGGED TABLE public.rate_limits (
    key character varying(255) NOT NULL,
    points integer DEFAULT 0 NOT NULL,
    expire bigint
);


--
-- Name: refunds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.refunds (
    id uuid NOT NULL,
    payment_id uuid NOT NULL,
    amount bigint NOT NULL,
    reason text,
    status text NOT NULL,
    gateway_refund_id text,
    trace_id text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    failure_reason text,
    gateway_calls integer DEFAULT 0 NOT NULL,
    refused_calls integer DEFAULT 0 NOT NULL,
    CONSTRAINT refund_amount_positive CHECK ((amount > 0)),
    CONSTRAINT refund_failure_reason_iff_failed CHECK (((status = 'FAILED'::text) = (failure_reason IS NOT NULL))),
    CONSTRAINT refund_status_known CHECK ((status = ANY (ARRAY['PENDING'::text, 'SUCCEEDED'::text, 'FAILED'::text])))
);


--
-- Name: relay_progress; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.relay_progress (
    slot_name text NOT NULL,
    acked_lsn pg_lsn,
    last_commit_at timestamp with time zone,
    events_relayed bigint DEFAULT 0 NOT NULL,
    leader_instance text NOT NULL,
    backfill_completed_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: relay_quarantine_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.relay_quarantine ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.relay_quarantine_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: replay_repairs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.replay_repairs (
    id bigint NOT NULL,
    repaired_at timestamp with time zone DEFAULT now() NOT NULL,
    repaired_by text DEFAULT CURRENT_USER NOT NULL,
    reason text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    field text NOT NULL,
    live_value text,
    replayed_value text,
    CONSTRAINT replay_repair_reason_given CHECK ((length(reason) > 0))
);


--
-- Name: replay_repairs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.replay_repairs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.replay_repairs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying(128) NOT NULL
);


--
-- Name: wallets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.wallets (
    id uuid NOT NULL,
    owner_id text NOT NULL,
    currency character(3) NOT NULL,
    balance bigint DEFAULT 0 NOT NULL,
    version integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT wallet_balance_non_negative CHECK ((balance >= 0)),
    CONSTRAINT wallet_balance_within_safe_integer CHECK ((balance <= '9007199254740991'::bigint)),
    CONSTRAINT wallet_currency_iso4217 CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT wallet_owner_id_length CHECK (((length(owner_id) >= 1) AND (length(owner_id) <= 128))),
    CONSTRAINT wallet_version_positive CHECK ((version > 0))
);


--
-- Name: payments; Type: TABLE; Schema: replay; Owner: -
--

CREATE TABLE replay.payments (
    id uuid NOT NULL,
    wallet_id uuid,
    amount bigint,
    status text NOT NULL,
    failure_reason text,
    provider text,
    refunded_amount bigint NOT NULL,
    version integer NOT NULL
);


--
-- Name: wallets; Type: TABLE; Schema: replay; Owner: -
--

CREATE TABLE replay.wallets (
    id uuid NOT NULL,
    owner_id text,
    currency text,
    balance bigint NOT NULL,
    version integer NOT NULL
);


--
-- Name: api_keys api_key_hash_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_key_hash_unique UNIQUE (key_hash);


--
-- Name: api_keys api_key_prefix_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_key_prefix_unique UNIQUE (prefix);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: audit_runs audit_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_runs
    ADD CONSTRAINT audit_runs_pkey PRIMARY KEY (id);


--
-- Name: charge_attempts charge_attempt_gateway_id_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.charge_attempts
    ADD CONSTRAINT charge_attempt_gateway_id_unique UNIQUE (provider, gateway_charge_id);


--
-- Name: charge_attempts charge_attempt_key_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.charge_attempts
    ADD CONSTRAINT charge_attempt_key_unique UNIQUE (provider, idempotency_key);


--
-- Name: charge_attempts charge_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.charge_attempts
    ADD CONSTRAINT charge_attempts_pkey PRIMARY KEY (id);


--
-- Name: dead_letter_jobs dead_letter_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dead_letter_jobs
    ADD CONSTRAINT dead_letter_jobs_pkey PRIMARY KEY (id);


--
-- Name: dead_letter_jobs dead_letter_once_per_job; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dead_letter_jobs
    ADD CONSTRAINT dead_letter_once_per_job UNIQUE (job_id);


--
-- Name: events event_version_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT event_version_unique UNIQUE (aggregate_id, version);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (event_id);


--
-- Name: fraud_blocklist fraud_blocklist_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.fraud_blocklist
    ADD CONSTRAINT fraud_blocklist_pkey PRIMARY KEY (kind, value);


--
-- Name: gateway_reconciliation_checks gateway_reconciliation_checks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_reconciliation_checks
    ADD CONSTRAINT gateway_reconciliation_checks_pkey PRIMARY KEY (payment_id);


--
-- Name: gateway_reconciliation_differences gateway_reconciliation_differences_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_reconciliation_differences
    ADD CONSTRAINT gateway_reconciliation_differences_pkey PRIMARY KEY (id);


--
-- Name: gateway_webhook_events gateway_webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_webhook_events
    ADD CONSTRAINT gateway_webhook_events_pkey PRIMARY KEY (provider, event_id);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (owner_id, scope, key);


--
-- Name: ledger_entries ledger_entries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (id);


--
-- Name: ledger_entries ledger_source_ref_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_source_ref_unique UNIQUE (source_ref);


--
-- Name: outbox outbox_one_row_per_event; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_one_row_per_event UNIQUE (event_id);


--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);


--
-- Name: payment_steps payment_step_once_per_attempt; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_steps
    ADD CONSTRAINT payment_step_once_per_attempt UNIQUE (payment_id, name, attempt, status);


--
-- Name: payment_steps payment_steps_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_steps
    ADD CONSTRAINT payment_steps_pkey PRIMARY KEY (id);


--
-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);


--
-- Name: process_heartbeats process_heartbeats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.process_heartbeats
    ADD CONSTRAINT process_heartbeats_pkey PRIMARY KEY (instance_id);


--
-- Name: rate_limits rate_limits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rate_limits
    ADD CONSTRAINT rate_limits_pkey PRIMARY KEY (key);


--
-- Name: refunds refunds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (id);


--
-- Name: relay_progress relay_progress_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_progress
    ADD CONSTRAINT relay_progress_pkey PRIMARY KEY (slot_name);


--
-- Name: relay_quarantine relay_quarantine_once; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_quarantine
    ADD CONSTRAINT relay_quarantine_once UNIQUE (outbox_id);


--
-- Name: relay_quarantine relay_quarantine_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_quarantine
    ADD CONSTRAINT relay_quarantine_pkey PRIMARY KEY (id);


--
-- Name: replay_repairs replay_repairs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.replay_repairs
    ADD CONSTRAINT replay_repairs_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: wallets wallet_id_owner_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallet_id_owner_unique UNIQUE (id, owner_id);


--
-- Name: wallets wallets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallets_pkey PRIMARY KEY (id);


--
-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: replay; Owner: -
--

ALTER TABLE ONLY replay.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);


--
-- Name: wallets wallets_pkey; Type: CONSTRAINT; Schema: replay; Owner: -
--

ALTER TABLE ONLY replay.wallets
    ADD CONSTRAINT wallets_pkey PRIMARY KEY (id);


--
-- Name: api_keys_owner; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_keys_owner ON public.api_keys USING btree (owner_id, created_at DESC);


--
-- Name: audit_runs_ran_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_runs_ran_at ON public.audit_runs USING btree (ran_at DESC);


--
-- Name: charge_attempt_one_per_provider; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX charge_attempt_one_per_provider ON public.charge_attempts USING btree (payment_id, provider) WHERE (idempotency_key IS NOT NULL);


--
-- Name: charge_attempts_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX charge_attempts_open ON public.charge_attempts USING btree (updated_at) WHERE ((status = ANY (ARRAY['unknown'::text, 'pending'::text])) OR ((stray_detected_at IS NOT NULL) AND (stray_refund_id IS NULL)));


--
-- Name: charge_attempts_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX charge_attempts_payment ON public.charge_attempts USING btree (payment_id, id);


--
-- Name: dead_letter_jobs_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX dead_letter_jobs_open ON public.dead_letter_jobs USING btree (id) WHERE ((replayed_at IS NULL) AND (resolved_at IS NULL));


--
-- Name: events_aggregate_type_position; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_aggregate_type_position ON public.events USING btree (aggregate_type, "position");


--
-- Name: events_position; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX events_position ON public.events USING btree ("position");


--
-- Name: events_wallet_payment_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_wallet_payment_id ON public.events USING btree (((data ->> 'payment_id'::text)), "position") WHERE ((aggregate_type = 'wallet'::text) AND ((data ->> 'payment_id'::text) IS NOT NULL));


--
-- Name: idempotency_keys_expires_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idempotency_keys_expires_at ON public.idempotency_keys USING btree (expires_at);


--
-- Name: ledger_entries_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entries_payment ON public.ledger_entries USING btree (payment_id) WHERE (payment_id IS NOT NULL);


--
-- Name: ledger_entries_seq; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX ledger_entries_seq ON public.ledger_entries USING btree (seq);


--
-- Name: ledger_entries_wallet_seq; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entries_wallet_seq ON public.ledger_entries USING btree (wallet_id, seq DESC);


--
-- Name: outbox_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_created_at ON public.outbox USING btree (created_at);


--
-- Name: payment_steps_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payment_steps_payment ON public.payment_steps USING btree (payment_id, id);


--
-- Name: payments_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payments_created ON public.payments USING btree (created_at DESC, id DESC);


--
-- Name: payments_non_terminal; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payments_non_terminal ON public.payments USING btree (updated_at) WHERE (status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text]));


--
-- Name: payments_owner_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payments_owner_created ON public.payments USING btree (owner_id, created_at DESC, id DESC);


--
-- Name: payments_status_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payments_status_created ON public.payments USING btree (status, created_at DESC, id DESC);


--
-- Name: payments_wallet_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX payments_wallet_created ON public.payments USING btree (wallet_id, created_at DESC, id DESC);


--
-- Name: process_heartbeats_role_last_seen; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX process_heartbeats_role_last_seen ON public.process_heartbeats USING btree (role, last_seen_at DESC);


--
-- Name: reconciliation_open_once; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX reconciliation_open_once ON public.gateway_reconciliation_differences USING btree (payment_id, provider, kind) WHERE (resolved_at IS NULL);


--
-- Name: refunds_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refunds_payment ON public.refunds USING btree (payment_id);


--
-- Name: relay_quarantine_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX relay_quarantine_open ON public.relay_quarantine USING btree (quarantined_at) WHERE (resolved_at IS NULL);


--
-- Name: wallets_owner_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX wallets_owner_id ON public.wallets USING btree (owner_id);


--
-- Name: events events_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE OR TRUNCATE ON public.events FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_mutation();


--
-- Name: ledger_entries ledger_entries_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ledger_entries_append_only BEFORE DELETE OR UPDATE OR TRUNCATE ON public.ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_mutation();


--
-- Name: outbox outbox_delete_only_by_retention; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER outbox_delete_only_by_retention BEFORE DELETE ON public.outbox FOR EACH STATEMENT EXECUTE FUNCTION public.outbox_refuse_unapproved_delete();


--
-- Name: outbox outbox_no_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER outbox_no_update BEFORE UPDATE OR TRUNCATE ON public.outbox FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_mutation();


--
-- Name: charge_attempts charge_attempt_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.charge_attempts
    ADD CONSTRAINT charge_attempt_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: ledger_entries ledger_entry_event_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entry_event_exists FOREIGN KEY (event_id) REFERENCES public.events(event_id);


--
-- Name: ledger_entries ledger_entry_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entry_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: ledger_entries ledger_entry_wallet_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entry_wallet_exists FOREIGN KEY (wallet_id) REFERENCES public.wallets(id);


--
-- Name: outbox outbox_event_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_event_exists FOREIGN KEY (event_id) REFERENCES public.events(event_id);


--
-- Name: payment_steps payment_step_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_steps
    ADD CONSTRAINT payment_step_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: payments payment_wallet_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payment_wallet_exists FOREIGN KEY (wallet_id) REFERENCES public.wallets(id);


--
-- Name: payments payment_wallet_owner; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payment_wallet_owner FOREIGN KEY (wallet_id, owner_id) REFERENCES public.wallets(id, owner_id);


--
-- Name: gateway_reconciliation_checks reconciliation_check_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_reconciliation_checks
    ADD CONSTRAINT reconciliation_check_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: gateway_reconciliation_differences reconciliation_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_reconciliation_differences
    ADD CONSTRAINT reconciliation_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: refunds refund_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refund_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- Name: relay_quarantine relay_quarantine_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.relay_quarantine
    ADD CONSTRAINT relay_quarantine_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(event_id);


--
-- PostgreSQL database dump complete
--


