-- The push path with less work per job: the same rows, states, events and
-- webhooks as migration 0005, written with fewer statements, row versions
-- and trigger calls.
--
--   * ids are made with integer arithmetic (errand_id was numeric);
--   * POST /v1/jobs can name its run and the hashes of the run's tokens, so
--     the run is written once and the dispatcher's claim does not write it
--     again; the new job's JSON is built from its row;
--   * a run's first message count, the completed reply's acknowledgement,
--     message count and end are one UPDATE of the run each;
--   * the triggers that write job events and observer webhooks fire only on
--     a status change, and the observers' one only for the statuses they
--     are told of; jobs.status is checked without a foreign key (below);
--   * jobs and runs are locked FOR NO KEY UPDATE (a foreign key check of a
--     row that references them does not wait for the lock); a delivery
--     record whose run is no longer pending locks neither the run nor its
--     job (nothing of theirs changes).
--
-- Lock order, as in 0005: a job (a parent before its subjobs), then its
-- run, then the run's webhook message.

-- ===== Ids =====

-- A prefixed ULID in lower case, like ids.c: 48 bits of milliseconds
-- (10 digits) and 80 random bits (16 digits), in Crockford's base 32.
CREATE OR REPLACE FUNCTION errand_id(prefix text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    a constant text[] := string_to_array('0123456789abcdefghjkmnpqrstvwxyz', NULL);
    u constant bytea := uuid_send(gen_random_uuid());
    t constant bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
    -- the random bits: bytes of the v4 UUID that carry no version or variant bits
    h constant bigint := (get_byte(u, 0)::bigint << 32) | (get_byte(u, 1)::bigint << 24)
                         | (get_byte(u, 2)::bigint << 16) | (get_byte(u, 3)::bigint << 8)
                         | get_byte(u, 4);
    l constant bigint := (get_byte(u, 5)::bigint << 32) | (get_byte(u, 10)::bigint << 24)
                         | (get_byte(u, 11)::bigint << 16) | (get_byte(u, 12)::bigint << 8)
                         | get_byte(u, 13);
BEGIN
    RETURN prefix || '_'
        || a[(t >> 45 & 31) + 1] || a[(t >> 40 & 31) + 1] || a[(t >> 35 & 31) + 1]
        || a[(t >> 30 & 31) + 1] || a[(t >> 25 & 31) + 1] || a[(t >> 20 & 31) + 1]
        || a[(t >> 15 & 31) + 1] || a[(t >> 10 & 31) + 1] || a[(t >> 5 & 31) + 1]
        || a[(t & 31) + 1]
        || a[(h >> 35 & 31) + 1] || a[(h >> 30 & 31) + 1] || a[(h >> 25 & 31) + 1]
        || a[(h >> 20 & 31) + 1] || a[(h >> 15 & 31) + 1] || a[(h >> 10 & 31) + 1]
        || a[(h >> 5 & 31) + 1] || a[(h & 31) + 1]
        || a[(l >> 35 & 31) + 1] || a[(l >> 30 & 31) + 1] || a[(l >> 25 & 31) + 1]
        || a[(l >> 20 & 31) + 1] || a[(l >> 15 & 31) + 1] || a[(l >> 10 & 31) + 1]
        || a[(l >> 5 & 31) + 1] || a[(l & 31) + 1];
END $$;

-- ===== Job triggers: only where they have something to do =====
-- (jobs_write_event and jobs_notify_observers check the same themselves)

DROP TRIGGER jobs_event ON jobs;
CREATE TRIGGER jobs_event_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_write_event();
CREATE TRIGGER jobs_event_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION jobs_write_event();

DROP TRIGGER jobs_observers ON jobs;
CREATE TRIGGER jobs_observers_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.kind = 'dispatch' AND NEW.status IN ('running', 'completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobs_notify_observers();
CREATE TRIGGER jobs_observers_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.kind = 'dispatch' AND NEW.status IS DISTINCT FROM OLD.status
                       AND NEW.status IN ('running', 'completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobs_notify_observers();

-- ===== Runs and their webhooks =====

-- As in 0005, in one statement.
CREATE OR REPLACE FUNCTION webhook_message_new(p_event text, p_agent text, p_observer text, p_job text,
                                               p_run text, p_payload text, p_outbox_job text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := errand_id('msg');
BEGIN
    WITH m AS (
        INSERT INTO webhook_messages (id, event, agent_id, observer_id, job_id, run_id, payload)
        VALUES (v_id, p_event, p_agent, p_observer, p_job, p_run, p_payload)
        RETURNING id)
    INSERT INTO outbox (event_id, stream, type, job_id, payload)
    SELECT errand_id('evt'), 'dispatch', 'webhook.message', p_outbox_job,
           jsonb_build_object('message_id', m.id, 'run_id', p_run)
    FROM m;
    RETURN v_id;
END $$;

-- Makes run `p_run` (NULL: a new id) for `p_agent` with the input
-- `p_message` and queues its agent.run.created webhook; for a job, the run
-- is one attempt of it. The hashes of the run's tokens are stored when given
-- (else the dispatcher stores them when it first takes the webhook).
CREATE FUNCTION run_create(p_job text, p_agent text, p_user text, p_project text, p_message text,
                           p_run text, p_reply_hash text, p_mcp_hash text)
RETURNS runs
LANGUAGE plpgsql AS $$
DECLARE
    r runs;
    j jobs;
    v_job json := NULL;
BEGIN
    IF p_job IS NOT NULL THEN
        UPDATE jobs SET attempt_count = attempt_count + 1 WHERE id = p_job RETURNING * INTO j;
        v_job := json_build_object('id', j.id, 'brief', j.brief,
                                   'constraints', coalesce(j.brief -> 'constraints', '{}'),
                                   'metadata', coalesce(j.metadata, '{}'),
                                   'parentJobId', j.parent_job_id, 'attempt', j.attempt_count);
    END IF;
    INSERT INTO runs (id, job_id, agent_id, user_id, project_id, message_count,
                      reply_token_hash, mcp_token_hash)
    VALUES (coalesce(p_run, errand_id('run')), p_job, p_agent, p_user, p_project, 1,
            p_reply_hash, p_mcp_hash)
    RETURNING * INTO r;
    INSERT INTO run_messages (run_id, seq, role, text) VALUES (r.id, 1, 'user', p_message);
    PERFORM webhook_message_new('agent.run.created', p_agent, NULL, p_job, r.id,
        json_build_object('type', 'agent.run.created', 'id', errand_id('evt'),
                          'createdAt', errand_time(r.created_at),
                          'run', json_build_object('id', r.id),
                          'conversation', NULL,
                          'input', json_build_object('message', p_message, 'jobId', p_job),
                          'job', v_job)::text,
        p_job);
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION run_create(p_job text, p_agent text, p_user text, p_project text,
                                      p_message text)
RETURNS runs
LANGUAGE sql AS $$
    SELECT run_create(p_job, p_agent, p_user, p_project, p_message, NULL, NULL, NULL)
$$;

-- POST /v1/jobs, as in 0005, with the run's id and its tokens' hashes
-- (all three NULL: made here, the hashes stored at the first delivery).
CREATE FUNCTION dispatch_create(p_id text, p_sender text, p_project text, p_agent text,
                                p_parent text, p_brief jsonb, p_metadata jsonb,
                                p_max_attempts integer, p_time_limit integer,
                                p_output_schema jsonb, p_verification jsonb, p_observers jsonb,
                                p_run text, p_reply_hash text, p_mcp_hash text,
                                OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    v_url text;
    j jobs;
BEGIN
    SELECT webhook_url INTO v_url FROM principals WHERE id = p_agent AND role = 'agent';
    IF NOT FOUND THEN
        outcome := 'agent_not_found';
        RETURN;
    END IF;
    IF v_url IS NULL THEN
        outcome := 'agent_has_no_webhook';
        RETURN;
    END IF;
    IF p_parent IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM jobs WHERE id = p_parent AND kind = 'dispatch' AND agent_id = p_sender
        AND status NOT IN ('completed', 'failed', 'cancelled', 'archived')) THEN
        outcome := 'parent_not_found';
        RETURN;
    END IF;
    INSERT INTO jobs (id, kind, status, sender_id, project_id, agent_id, parent_job_id, title,
                      description, brief, metadata, max_attempts, time_limit_seconds,
                      deadline_at, output_schema, verification)
    VALUES (p_id, 'dispatch', 'queued', p_sender, p_project, p_agent, p_parent,
            left(p_brief ->> 'objective', 200), coalesce(p_brief ->> 'context', ''), p_brief,
            p_metadata, p_max_attempts, p_time_limit,
            now() + make_interval(secs => p_time_limit), p_output_schema, p_verification);
    IF jsonb_array_length(coalesce(p_observers, '[]')) > 0 THEN
        INSERT INTO job_observers (id, job_id, url, events, secret)
        SELECT o ->> 'id', p_id, o ->> 'url', ARRAY(SELECT jsonb_array_elements_text(o -> 'events')),
               o ->> 'secret'
        FROM jsonb_array_elements(p_observers) o;
    END IF;
    PERFORM run_create(p_id, p_agent, p_sender, p_project, p_brief ->> 'objective',
                       p_run, p_reply_hash, p_mcp_hash);
    -- dispatch_row of a job just made: no subjobs, no tokens used
    SELECT * INTO j FROM jobs WHERE id = p_id;
    outcome := 'ok';
    job := (to_jsonb(j) || jsonb_build_object('subjobs', '[]'::jsonb,
                                              'tokens_total', coalesce(j.tokens_used, 0)))::json;
END $$;

-- ===== The reply API =====

-- As in 0005. A completed reply acknowledges (when the webhook's 2xx was
-- not recorded yet), counts its message and ends the run in one UPDATE.
CREATE OR REPLACE FUNCTION run_reply(p_token_hash text, p_status text, p_message text, p_error text,
                                     p_result jsonb, p_tokens bigint, p_idempotency_key text,
                                     p_cancel_subjobs boolean, p_expiry integer,
                                     OUT outcome text, OUT run_id text, OUT run_status text,
                                     OUT idempotent boolean, OUT expires_in integer, OUT job_id text)
LANGUAGE plpgsql AS $$
DECLARE
    r runs;
    j jobs;
BEGIN
    idempotent := false;
    SELECT * INTO r FROM runs WHERE reply_token_hash = p_token_hash;
    IF NOT FOUND THEN
        outcome := 'invalid_reply_token';
        RETURN;
    END IF;
    IF r.job_id IS NOT NULL THEN
        SELECT * INTO j FROM jobs WHERE id = r.job_id FOR NO KEY UPDATE;
    END IF;
    SELECT * INTO r FROM runs WHERE id = r.id FOR NO KEY UPDATE;
    run_id := r.id;
    job_id := r.job_id;
    IF r.status = 'expired' OR (r.status = 'running' AND r.expires_at <= now()) THEN
        -- expired, whether or not the sweep has marked it yet
        outcome := 'run_expired';
    ELSIF r.status NOT IN ('pending', 'running') THEN
        outcome := 'ok';
        idempotent := true;
    ELSIF p_status = 'completed' THEN
        outcome := 'ok';
        IF r.status = 'pending' AND j.status = 'queued' THEN
            -- the reply came before the dispatcher saw the webhook's 2xx: the job ran
            UPDATE jobs SET status = 'running', accepted_at = coalesce(accepted_at, now())
            WHERE id = j.id RETURNING * INTO j;
        END IF;
        IF j.id IS NOT NULL AND EXISTS (
            SELECT 1 FROM jobs s WHERE s.parent_job_id = j.id
            AND s.status NOT IN ('completed', 'failed', 'cancelled', 'archived')) THEN
            IF NOT p_cancel_subjobs THEN
                outcome := 'open_subjobs';
            ELSE
                PERFORM dispatch_cancel_tree(s.id) FROM jobs s WHERE s.parent_job_id = j.id
                AND s.status NOT IN ('completed', 'failed', 'cancelled', 'archived');
            END IF;
        END IF;
        IF outcome = 'open_subjobs' AND r.status = 'pending' THEN
            r := run_acknowledge(r.id, p_expiry);
        ELSIF outcome = 'ok' THEN
            INSERT INTO run_messages (run_id, seq, role, text, status)
            VALUES (r.id, r.message_count + 1, 'agent', p_message, 'completed');
            UPDATE runs SET status = 'completed', error = NULL, ended_at = now(),
                   message_count = message_count + 1,
                   acknowledged_at = coalesce(acknowledged_at, now()),
                   expires_at = CASE WHEN status = 'pending'
                                     THEN now() + make_interval(secs => p_expiry)
                                     ELSE expires_at END
            WHERE id = r.id RETURNING * INTO r;
            UPDATE webhook_messages SET status = 'cancelled', finished_at = now()
            WHERE webhook_messages.run_id = r.id AND status = 'pending';
            IF j.id IS NOT NULL AND j.status = 'running' AND job_needs_verification(j) THEN
                UPDATE jobs SET status = 'submitted', submitted_at = now(),
                       result = coalesce(p_result, to_jsonb(p_message)),
                       tokens_used = coalesce(p_tokens, tokens_used)
                WHERE id = j.id;
            ELSIF j.id IS NOT NULL AND j.status = 'running' THEN
                UPDATE jobs SET status = 'completed', completed_at = now(),
                       result = coalesce(p_result, to_jsonb(p_message)),
                       tokens_used = coalesce(p_tokens, tokens_used)
                WHERE id = j.id;
            END IF;
        END IF;
    ELSE
        IF r.status = 'pending' THEN
            -- the reply came before the dispatcher saw the webhook's 2xx
            r := run_acknowledge(r.id, p_expiry);
            IF j.id IS NOT NULL THEN
                SELECT * INTO j FROM jobs WHERE id = j.id;
            END IF;
        END IF;
        outcome := 'ok';
        IF p_status = 'partial' THEN
            IF p_idempotency_key IS NOT NULL AND EXISTS (
                SELECT 1 FROM run_messages m WHERE m.run_id = r.id
                AND m.idempotency_key = p_idempotency_key) THEN
                idempotent := true;
            ELSE
                INSERT INTO run_messages (run_id, seq, role, text, status, idempotency_key)
                VALUES (r.id, r.message_count + 1, 'agent', p_message, 'partial', p_idempotency_key);
                UPDATE runs SET message_count = message_count + 1,
                       expires_at = now() + make_interval(secs => p_expiry)
                WHERE id = r.id RETURNING * INTO r;
            END IF;
        ELSE
            r := run_end(r.id, 'failed', p_error);
            IF j.id IS NOT NULL THEN
                UPDATE jobs SET tokens_used = coalesce(p_tokens, tokens_used) WHERE id = j.id;
                PERFORM dispatch_fail_attempt(j.id, p_error);
            END IF;
        END IF;
    END IF;
    run_status := r.status;
    expires_in := CASE WHEN r.status = 'running'
                       THEN greatest(0, ceil(extract(epoch FROM r.expires_at - now())))::integer
                       ELSE 0 END;
END $$;

-- ===== Deliveries =====

-- As in 0005, except: a run that is no longer pending cannot become pending
-- again, so when the unlocked read finds it so, neither it nor its job is
-- locked (the record then changes only the message); and `job_id` is NULL
-- when a 2xx changed no run.
CREATE OR REPLACE FUNCTION delivery_record(p_message text, p_attempt integer, p_target text,
                                           p_status_code integer, p_error text, p_latency_ms integer,
                                           p_head text, p_next_delay_ms bigint, p_gone boolean,
                                           p_expiry integer, OUT job_id text)
LANGUAGE plpgsql AS $$
DECLARE
    m webhook_messages;
    r runs;
BEGIN
    SELECT * INTO m FROM webhook_messages w WHERE w.id = p_message;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF m.run_id IS NOT NULL THEN
        SELECT * INTO r FROM runs x WHERE x.id = m.run_id;
        IF r.status = 'pending' THEN
            PERFORM 1 FROM jobs WHERE id = r.job_id FOR NO KEY UPDATE;
            SELECT * INTO r FROM runs x WHERE x.id = m.run_id FOR NO KEY UPDATE;
        END IF;
    END IF;
    SELECT * INTO m FROM webhook_messages w WHERE w.id = p_message FOR NO KEY UPDATE;
    IF m.attempts <> p_attempt THEN
        RETURN;
    END IF;
    INSERT INTO delivery_attempts (id, message_id, job_id, attempt, target, event, status_code,
                                   error, latency_ms, response_head)
    VALUES (errand_id('dlv'), m.id, m.job_id, p_attempt, p_target, m.event, p_status_code,
            p_error, p_latency_ms, p_head);
    IF m.status <> 'pending' THEN
        RETURN;
    END IF;
    IF p_status_code BETWEEN 200 AND 299 THEN
        UPDATE webhook_messages SET status = 'delivered', finished_at = now(), locked_until = NULL
        WHERE id = m.id;
        IF m.run_id IS NULL OR r.status = 'pending' THEN
            job_id := m.job_id;
        END IF;
        IF r.status = 'pending' THEN
            PERFORM run_acknowledge(m.run_id, p_expiry);
        END IF;
        RETURN;
    END IF;
    job_id := m.job_id;
    IF p_gone THEN
        UPDATE principals SET webhook_disabled_at = now() WHERE id = m.agent_id;
        UPDATE job_observers SET disabled_at = now() WHERE id = m.observer_id;
    END IF;
    IF p_next_delay_ms IS NOT NULL AND NOT p_gone THEN
        UPDATE webhook_messages SET locked_until = NULL,
               next_attempt_at = now() + make_interval(secs => p_next_delay_ms / 1000.0)
        WHERE id = m.id;
        RETURN;
    END IF;
    UPDATE webhook_messages SET status = 'failed', finished_at = now(), locked_until = NULL
    WHERE id = m.id;
    IF r.status = 'pending' THEN
        PERFORM run_end(r.id, 'failed', 'the webhook could not be delivered');
        IF r.job_id IS NOT NULL THEN
            PERFORM dispatch_fail_attempt(r.job_id, 'webhook_undeliverable');
        END IF;
    END IF;
END $$;

-- ===== A job's status =====

-- jobs.status named a row of job_statuses by a foreign key, checked (and its
-- row locked FOR KEY SHARE, a write) on every status change of every job.
-- The transition guard already requires every change to be a row of
-- job_transitions, whose foreign keys name job_statuses; a new job's status
-- is checked by a trigger of its own, so every status is still one of
-- job_statuses (whose rows job_transitions keeps from being removed or
-- renamed).
CREATE FUNCTION jobs_check_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM job_statuses WHERE status = NEW.status) THEN
        RAISE EXCEPTION 'job % cannot be created %', NEW.id, NEW.status
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'jobs_status_fkey';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_status_known BEFORE INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_check_status();

ALTER TABLE jobs DROP CONSTRAINT jobs_status_fkey;

-- ===== The outbox: claimed by the statement that wrote the events =====

-- Claims the unpublished events of job `p_job` for 30 seconds (the
-- publisher's OUTBOX_CLAIM_SECONDS), skipping rows another publisher
-- holds, and answers them in order as shared/outbox.c publishes them. The
-- statements of the push path call it after their transition, in the same
-- transaction, so that publishing takes no claim of its own.
CREATE FUNCTION outbox_claim_job(p_job text, OUT id bigint, OUT event_id text, OUT stream text,
                                 OUT type text, OUT job_id text, OUT payload text,
                                 OUT created_ms bigint)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
    -- PL/pgSQL keeps the statement's plan (a SQL function would plan it on every call)
    RETURN QUERY
    UPDATE outbox o SET claimed_until = now() + interval '30 seconds'
    WHERE o.id IN (SELECT x.id FROM outbox x WHERE x.job_id = p_job AND x.published_at IS NULL
                   AND (x.claimed_until IS NULL OR x.claimed_until < now())
                   ORDER BY x.id FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.event_id, o.stream, o.type, coalesce(o.job_id, ''), o.payload::text,
              (extract(epoch FROM o.created_at) * 1000)::bigint;
END $$;

-- errand_time was IMMUTABLE over a STABLE body (to_char), so it could not be
-- inlined: every call parsed and planned its SELECT. STABLE, it is inlined
-- into the statements that call it.
ALTER FUNCTION errand_time(timestamptz) STABLE;
