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
-- Name: audit__wallet_balances(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit__wallet_balances() RETURNS TABLE(wallet_id uuid, balance bigint, ledger_sum numeric, event_balance bigint, version integer, event_version integer)
    LANGUAGE sql STABLE
    AS $$
  WITH ledger AS (
    SELECT l.wallet_id, sum(l.amount) AS total FROM ledger_entries l GROUP BY l.wallet_id
  ), replayed AS (
    SELECT DISTINCT ON (e.aggregate_id)
      e.aggregate_id,
      e.version,
      (SELECT (x.data ->> 'balance_after')::bigint
         FROM events x
        WHERE x.aggregate_id = e.aggregate_id AND x.data ? 'balance_after'
        ORDER BY x.version DESC LIMIT 1) AS balance
    FROM events e
    WHERE e.aggregate_type = 'wallet'
    ORDER BY e.aggregate_id, e.version DESC
  )
  SELECT w.id, w.balance, coalesce(l.total, 0), coalesce(r.balance, 0), w.version, r.version
    FROM wallets w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN replayed r ON r.aggregate_id = w.id
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
BEGIN
  SELECT * INTO v_letter FROM dead_letter_jobs WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'dead letter % does not exist', p_id USING ERRCODE = 'WP003';
  END IF;
  IF v_letter.replayed_at IS NOT NULL THEN
    RAISE EXCEPTION 'dead letter % was already replayed as job %', p_id, v_letter.replay_job_id USING ERRCODE = 'WP004';
  END IF;
  SELECT (graphile_worker.add_job(v_letter.task, v_letter.payload::json, max_attempts => p_max_attempts)).id INTO v_job_id;
  UPDATE dead_letter_jobs SET replayed_at = now(), replay_job_id = v_job_id WHERE id = p_id;
  IF v_letter.payment_id IS NOT NULL THEN
    INSERT INTO payment_steps (payment_id, name, status, attempt, detail)
    VALUES (v_letter.payment_id, v_letter.task, 'replayed', 1, jsonb_build_object('dead_letter_id', p_id, 'job_id', v_job_id))
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN v_job_id;
END;
$$;


--
-- Name: dead_letter__sweep(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.dead_letter__sweep() RETURNS bigint
    LANGUAGE sql
    AS $_$
  WITH moved AS (
    SELECT * FROM graphile_worker.complete_jobs(array(
      SELECT id FROM graphile_worker.jobs WHERE attempts >= max_attempts AND locked_at IS NULL))
  ), inserted AS (
    INSERT INTO dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
    SELECT m.id, t.identifier, m.payload::jsonb, m.attempts, coalesce(m.last_error, 'unknown'),
           CASE WHEN m.payload::jsonb ->> 'paymentId' ~ '^[0-9a-f-]{36}$' THEN (m.payload::jsonb ->> 'paymentId')::uuid END,
           m.created_at
      FROM moved m JOIN graphile_worker._private_tasks t ON t.id = m.task_id
    ON CONFLICT (job_id) DO NOTHING
    RETURNING 1
  )
  SELECT count(*) FROM inserted;
$_$;


SET default_tablespace = '';

SET default_table_access_method = heap;

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

  INSERT INTO outbox (event_id, topic, key, event_type, headers, payload)
  VALUES (
    v_event.event_id,
    v_event.aggregate_type || 's.events',
    v_event.aggregate_id::text,
    v_event.event_type,
    jsonb_build_object('event_id', v_event.event_id, 'event_type', v_event.event_type, 'trace_id', v_event.trace_id),
    event__envelope(v_event));

  IF p_job_identifier IS NOT NULL THEN
    PERFORM graphile_worker.add_job(
      p_job_identifier,
      coalesce(p_job_payload, '{}'::json),
      job_key => p_job_key,
      run_at => p_job_run_at,
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
  WITH gone AS (DELETE FROM idempotency_keys WHERE expires_at < p_now RETURNING 1)
  SELECT count(*) FROM gone;
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
-- Name: worker__unlock_dead(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.worker__unlock_dead(p_dead_after_seconds integer) RETURNS text[]
    LANGUAGE plpgsql
    AS $$
DECLARE
  v_dead text[];
BEGIN
  SELECT array_agg(DISTINCT j.locked_by) INTO v_dead
    FROM graphile_worker.jobs j
   WHERE j.locked_by IS NOT NULL
     AND j.locked_at < now() - make_interval(secs => p_dead_after_seconds)
     AND NOT EXISTS (
       SELECT 1 FROM process_heartbeats h
        WHERE h.role = 'worker'
          AND h.last_seen_at > now() - make_interval(secs => p_dead_after_seconds)
          AND j.locked_by = ANY (h.graphile_worker_ids));
  IF v_dead IS NOT NULL THEN
    PERFORM graphile_worker.force_unlock_workers(v_dead);
  END IF;
  DELETE FROM process_heartbeats
   WHERE role = 'worker' AND last_seen_at < now() - make_interval(secs => greatest(p_dead_after_seconds * 10, 300));
  RETURN coalesce(v_dead, '{}');
END;
$$;


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
    replay_job_id bigint
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
-- Name: payment_charges; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payment_charges (
    payment_id uuid NOT NULL,
    provider text NOT NULL,
    gateway_charge_id text NOT NULL,
    status text NOT NULL,
    decline_code text,
    polls integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT payment_charge_provider_known CHECK ((provider = ANY (ARRAY['alpha'::text, 'beta'::text]))),
    CONSTRAINT payment_charge_status_known CHECK ((status = ANY (ARRAY['pending'::text, 'succeeded'::text, 'failed'::text])))
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
    CONSTRAINT refund_amount_positive CHECK ((amount > 0)),
    CONSTRAINT refund_status_known CHECK ((status = ANY (ARRAY['PENDING'::text, 'SUCCEEDED'::text])))
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
-- Name: gateway_webhook_events gateway_webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.gateway_webhook_events
    ADD CONSTRAINT gateway_webhook_events_pkey PRIMARY KEY (provider, event_id);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);


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
-- Name: payment_charges payment_charge_gateway_id_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_charges
    ADD CONSTRAINT payment_charge_gateway_id_unique UNIQUE (provider, gateway_charge_id);


--
-- Name: payment_charges payment_charges_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_charges
    ADD CONSTRAINT payment_charges_pkey PRIMARY KEY (payment_id, provider);


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
-- Name: refunds refunds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: wallets wallets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallets_pkey PRIMARY KEY (id);


--
-- Name: dead_letter_jobs_open; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX dead_letter_jobs_open ON public.dead_letter_jobs USING btree (id) WHERE (replayed_at IS NULL);


--
-- Name: events_aggregate_type_position; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_aggregate_type_position ON public.events USING btree (aggregate_type, "position");


--
-- Name: events_position; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX events_position ON public.events USING btree ("position");


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
-- Name: refunds_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX refunds_payment ON public.refunds USING btree (payment_id);


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
-- Name: payment_charges payment_charge_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_charges
    ADD CONSTRAINT payment_charge_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


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
-- Name: refunds refund_payment_exists; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refund_payment_exists FOREIGN KEY (payment_id) REFERENCES public.payments(id);


--
-- PostgreSQL database dump complete
--


