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
    jsonb_build_object(
      'event_id', v_event.event_id,
      'event_type', v_event.event_type,
      'aggregate_type', v_event.aggregate_type,
      'aggregate_id', v_event.aggregate_id,
      'version', v_event.version,
      'occurred_at', to_char(v_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      'trace_id', v_event.trace_id,
      'data', v_event.data));

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
-- Name: heartbeat__beat(text, text, integer, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.heartbeat__beat(p_instance_id text, p_role text, p_pid integer, p_hostname text) RETURNS void
    LANGUAGE sql
    AS $$
  INSERT INTO process_heartbeats (instance_id, role, pid, hostname)
  VALUES (p_instance_id, p_role, p_pid, p_hostname)
  ON CONFLICT (instance_id) DO UPDATE SET last_seen_at = now();
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
-- Name: process_heartbeats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.process_heartbeats (
    instance_id text NOT NULL,
    role text NOT NULL,
    pid integer NOT NULL,
    hostname text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT heartbeat_role_known CHECK ((role = ANY (ARRAY['api'::text, 'worker'::text, 'relay'::text])))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
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
-- Name: process_heartbeats process_heartbeats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.process_heartbeats
    ADD CONSTRAINT process_heartbeats_pkey PRIMARY KEY (instance_id);


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
-- Name: process_heartbeats_role_last_seen; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX process_heartbeats_role_last_seen ON public.process_heartbeats USING btree (role, last_seen_at DESC);


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
-- PostgreSQL database dump complete
--


