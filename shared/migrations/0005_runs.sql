-- Push work (seeds 004 and 002): runs, their messages, webhook messages and
-- their delivery attempts, agents' webhook secrets, observers, and the
-- operations of the reply API and of /v1/jobs as functions (each one
-- statement for the caller, answering (outcome, …) as the marketplace does).
--
-- Lock order, everywhere: a job (a parent before its subjobs), then its
-- run, then the run's webhook message. Functions that start from a run or
-- a message read it first without a lock, lock in that order, and check
-- again.

-- A /v1/jobs job whose agent never acknowledged a webhook fails from the
-- queue (its deliveries ran out, or its deadline passed before any run).
INSERT INTO job_transitions VALUES ('queued', 'failed');

-- An endpoint that answered 410 Gone gets nothing more until re-enabled.
ALTER TABLE principals ADD COLUMN webhook_disabled_at timestamptz;

-- The whsec_ secrets that sign an agent's webhooks. A rotation gives the
-- old ones an expiry; until then both sign. Sealed ("v1.…") when the
-- deployment has ERRAND_SECRETS_KEY, else stored as they are.
CREATE TABLE agent_webhook_secrets (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES principals (id),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX agent_webhook_secrets_agent ON agent_webhook_secrets (agent_id);

-- Webhook observers of a /v1/jobs job (seed 002), each with its own secret.
CREATE TABLE job_observers (
    id           text PRIMARY KEY CHECK (id ~ '^obs_[0-9a-hjkmnp-tv-z]{26}$'),
    job_id       text NOT NULL REFERENCES jobs (id),
    url          text NOT NULL CHECK (url ~ '^https?://'),
    events       text[] NOT NULL,
    secret       text NOT NULL,
    disabled_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_observers_job ON job_observers (job_id);

-- A run: one wake-up of an agent (CONTRACT.md's states and expiry rules).
CREATE TABLE runs (
    id                text PRIMARY KEY CHECK (id ~ '^run_[0-9a-hjkmnp-tv-z]{26}$'),
    job_id            text REFERENCES jobs (id),
    agent_id          text NOT NULL REFERENCES principals (id),
    -- whom the run works for: the job's sender (the MCP token is bound to it)
    user_id           text NOT NULL REFERENCES principals (id),
    project_id        text NOT NULL REFERENCES projects (id),
    conversation_id   text,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'completed', 'failed', 'expired', 'cancelled')),
    -- hex SHA-256 of the tokens; the tokens themselves are never stored.
    -- Set by the dispatcher before the first delivery of the run's webhook.
    reply_token_hash  text UNIQUE CHECK (reply_token_hash ~ '^[0-9a-f]{64}$'),
    mcp_token_hash    text UNIQUE CHECK (mcp_token_hash ~ '^[0-9a-f]{64}$'),
    message_count     integer NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at   timestamptz,
    expires_at        timestamptz,
    ended_at          timestamptz,
    CHECK ((status = 'running') <= (expires_at IS NOT NULL))
);
CREATE INDEX runs_job ON runs (job_id, created_at DESC, id DESC) WHERE job_id IS NOT NULL;
CREATE INDEX runs_expiry ON runs (expires_at) WHERE status = 'running';
CREATE INDEX runs_pending ON runs (created_at) WHERE status = 'pending';

-- The messages of a run, in order: the input (role user), then the agent's
-- replies. A partial's idempotencyKey is kept so a retry is not appended twice.
CREATE TABLE run_messages (
    run_id           text NOT NULL REFERENCES runs (id),
    seq              integer NOT NULL CHECK (seq > 0),
    role             text NOT NULL CHECK (role IN ('user', 'agent')),
    text             text NOT NULL,
    status           text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq),
    UNIQUE (run_id, idempotency_key)
);

-- One webhook message to one endpoint; its id is the `webhook-id`, the same
-- on every attempt. The body is stored when the message is made; the
-- dispatcher adds the run's tokens to an agent.run.created at send time.
CREATE TABLE webhook_messages (
    id               text PRIMARY KEY CHECK (id ~ '^msg_[0-9a-hjkmnp-tv-z]{26}$'),
    event            text NOT NULL,
    agent_id         text REFERENCES principals (id),
    observer_id      text REFERENCES job_observers (id),
    job_id           text REFERENCES jobs (id),
    run_id           text REFERENCES runs (id),
    payload          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- a dispatcher that took the message sends it before this time, or another may
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CHECK ((agent_id IS NULL) <> (observer_id IS NULL))
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_run ON webhook_messages (run_id) WHERE status = 'pending';

-- Every attempt, as the job's owner reads it (GET /v1/jobs/{id}/deliveries).
CREATE TABLE delivery_attempts (
    id             text PRIMARY KEY CHECK (id ~ '^dlv_[0-9a-hjkmnp-tv-z]{26}$'),
    message_id     text NOT NULL REFERENCES webhook_messages (id),
    job_id         text REFERENCES jobs (id),
    attempt        integer NOT NULL CHECK (attempt > 0),
    target         text NOT NULL,
    event          text NOT NULL,
    status_code    integer,
    error          text,
    latency_ms     integer,
    response_head  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, attempt)
);
CREATE INDEX delivery_attempts_job ON delivery_attempts (job_id, created_at DESC, id DESC);

-- Dispatch jobs past their deadline, whatever their state.
CREATE INDEX jobs_dispatch_deadline ON jobs (deadline_at)
    WHERE kind = 'dispatch' AND status IN ('queued', 'running', 'submitted');

CREATE FUNCTION errand_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Queues a webhook message and its entry for the stream errand:dispatch
-- (published after commit by the outbox).
CREATE FUNCTION webhook_message_new(p_event text, p_agent text, p_observer text, p_job text,
                                    p_run text, p_payload text, p_outbox_job text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := errand_id('msg');
BEGIN
    INSERT INTO webhook_messages (id, event, agent_id, observer_id, job_id, run_id, payload)
    VALUES (v_id, p_event, p_agent, p_observer, p_job, p_run, p_payload);
    INSERT INTO outbox (event_id, stream, type, job_id, payload)
    VALUES (errand_id('evt'), 'dispatch', 'webhook.message', p_outbox_job,
            jsonb_build_object('message_id', v_id, 'run_id', p_run));
    RETURN v_id;
END $$;

-- Makes a run for `p_agent` with the input `p_message` and queues its
-- agent.run.created webhook. For a job, the run is one attempt of it.
CREATE FUNCTION run_create(p_job text, p_agent text, p_user text, p_project text, p_message text)
RETURNS runs
LANGUAGE plpgsql AS $$
DECLARE
    r runs;
    j jobs;
    v_job json := NULL;
BEGIN
    INSERT INTO runs (id, job_id, agent_id, user_id, project_id)
    VALUES (errand_id('run'), p_job, p_agent, p_user, p_project)
    RETURNING * INTO r;
    INSERT INTO run_messages (run_id, seq, role, text) VALUES (r.id, 1, 'user', p_message);
    UPDATE runs SET message_count = 1 WHERE id = r.id RETURNING * INTO r;
    IF p_job IS NOT NULL THEN
        UPDATE jobs SET attempt_count = attempt_count + 1 WHERE id = p_job RETURNING * INTO j;
        v_job := json_build_object('id', j.id, 'brief', j.brief,
                                   'constraints', coalesce(j.brief -> 'constraints', '{}'),
                                   'metadata', coalesce(j.metadata, '{}'),
                                   'parentJobId', j.parent_job_id, 'attempt', j.attempt_count);
    END IF;
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

-- Ends a run (a terminal status) and drops its undelivered webhooks.
CREATE FUNCTION run_end(p_run text, p_status text, p_error text) RETURNS runs
LANGUAGE plpgsql AS $$
DECLARE
    r runs;
BEGIN
    UPDATE runs SET status = p_status, error = p_error, ended_at = now()
    WHERE id = p_run AND status IN ('pending', 'running')
    RETURNING * INTO r;
    UPDATE webhook_messages SET status = 'cancelled', finished_at = now()
    WHERE run_id = p_run AND status = 'pending';
    RETURN r;
END $$;

-- The agent took the run (its webhook was acknowledged, or it replied
-- first): running, with the stall clock started; its job runs too.
CREATE FUNCTION run_acknowledge(p_run text, p_expiry integer) RETURNS runs
LANGUAGE plpgsql AS $$
DECLARE
    r runs;
BEGIN
    UPDATE runs SET status = 'running', acknowledged_at = now(),
           expires_at = now() + make_interval(secs => p_expiry)
    WHERE id = p_run AND status = 'pending'
    RETURNING * INTO r;
    IF r.job_id IS NOT NULL THEN
        UPDATE jobs SET status = 'running', accepted_at = coalesce(accepted_at, now())
        WHERE id = r.job_id AND status = 'queued';
    END IF;
    RETURN r;
END $$;

-- A failed attempt of a /v1/jobs job (its run failed or expired): another
-- run while attempts are left, else the job fails. Refunds any hold.
CREATE FUNCTION dispatch_fail_attempt(p_job text, p_reason text) RETURNS jobs
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job FOR UPDATE;
    IF j.status NOT IN ('queued', 'running', 'submitted') THEN
        RETURN j;
    END IF;
    IF j.attempt_count >= j.max_attempts THEN
        UPDATE jobs SET status = 'failed', failure_reason = p_reason, completed_at = now()
        WHERE id = p_job RETURNING * INTO j;
        PERFORM ledger_release(p_job);
    ELSE
        UPDATE jobs SET status = 'queued', failure_reason = p_reason, result = NULL
        WHERE id = p_job RETURNING * INTO j;
        PERFORM run_create(j.id, j.agent_id, j.sender_id, j.project_id, j.brief ->> 'objective');
        SELECT * INTO j FROM jobs WHERE id = p_job;
    END IF;
    RETURN j;
END $$;

-- Cancels a /v1/jobs job and, first, its open subjobs; its open run is
-- cancelled (a later reply is a no-op).
CREATE FUNCTION dispatch_cancel_tree(p_job text) RETURNS jobs
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
    v_id text;
BEGIN
    -- the lock order: the job before its runs (and a parent before its subjobs)
    PERFORM 1 FROM jobs WHERE id = p_job FOR UPDATE;
    FOR v_id IN SELECT id FROM jobs WHERE parent_job_id = p_job
                AND status NOT IN ('completed', 'failed', 'cancelled', 'archived') LOOP
        PERFORM dispatch_cancel_tree(v_id);
    END LOOP;
    FOR v_id IN SELECT id FROM runs WHERE job_id = p_job AND status IN ('pending', 'running') LOOP
        PERFORM run_end(v_id, 'cancelled', NULL);
    END LOOP;
    UPDATE jobs SET status = 'cancelled', completed_at = now()
    WHERE id = p_job AND status NOT IN ('completed', 'failed', 'cancelled', 'archived')
    RETURNING * INTO j;
    IF FOUND THEN
        PERFORM ledger_release(p_job);
    ELSE
        SELECT * INTO j FROM jobs WHERE id = p_job;
    END IF;
    RETURN j;
END $$;

-- ===== The dispatch API (seed 002) =====

-- A /v1/jobs job as JSON: its row, plus `subjobs` ([{id, agent_id, status}],
-- canonical statuses) and `tokens_total` (its own and all its subjobs').
CREATE FUNCTION dispatch_row(p_job text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (to_jsonb(j) || jsonb_build_object(
        'subjobs', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'agent_id', s.agent_id,
                                                                 'status', s.status)
                                              ORDER BY s.created_at, s.id)
                             FROM jobs s WHERE s.parent_job_id = j.id), '[]'),
        'tokens_total', (WITH RECURSIVE t (id, tokens, depth) AS (
                             SELECT j.id, j.tokens_used, 0
                             UNION ALL
                             SELECT s.id, s.tokens_used, t.depth + 1 FROM jobs s
                             JOIN t ON s.parent_job_id = t.id WHERE t.depth < 64)
                         SELECT coalesce(sum(tokens), 0) FROM t)))::json
    FROM jobs j WHERE j.id = p_job
$$;

-- POST /v1/jobs. p_observers: [{id, url, events, secret}]. Outcomes: ok,
-- agent_not_found, agent_has_no_webhook, parent_not_found.
CREATE FUNCTION dispatch_create(p_id text, p_sender text, p_project text, p_agent text,
                                p_parent text, p_brief jsonb, p_metadata jsonb,
                                p_max_attempts integer, p_time_limit integer,
                                p_output_schema jsonb, p_verification jsonb, p_observers jsonb,
                                OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    a principals;
    j jobs;
BEGIN
    SELECT * INTO a FROM principals WHERE id = p_agent AND role = 'agent';
    IF NOT FOUND THEN
        outcome := 'agent_not_found';
        RETURN;
    END IF;
    IF a.webhook_url IS NULL THEN
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
            now() + make_interval(secs => p_time_limit), p_output_schema, p_verification)
    RETURNING * INTO j;
    INSERT INTO job_observers (id, job_id, url, events, secret)
    SELECT o ->> 'id', p_id, o ->> 'url', ARRAY(SELECT jsonb_array_elements_text(o -> 'events')),
           o ->> 'secret'
    FROM jsonb_array_elements(coalesce(p_observers, '[]')) o;
    PERFORM run_create(p_id, p_agent, p_sender, p_project, p_brief ->> 'objective');
    outcome := 'ok';
    job := dispatch_row(p_id);
END $$;

-- POST /v1/jobs/{id}/cancel by its creator: immediate in any open state.
CREATE FUNCTION dispatch_cancel(p_job text, p_sender text, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job AND sender_id = p_sender AND kind = 'dispatch'
    FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    PERFORM dispatch_cancel_tree(p_job);
    outcome := 'ok';
    job := dispatch_row(p_job);
END $$;

-- Observer events: a /v1/jobs job entering running, completed, failed or
-- cancelled notifies its observers and those of every ancestor (with the
-- subjob's id), each observer that asked for that event.
CREATE FUNCTION jobs_notify_observers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_word text;
    o record;
BEGIN
    IF NEW.kind <> 'dispatch' OR (TG_OP = 'UPDATE' AND NEW.status = OLD.status) THEN
        RETURN NULL;
    END IF;
    v_word := CASE NEW.status WHEN 'running' THEN 'running' WHEN 'completed' THEN 'completed'
                              WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled' END;
    IF v_word IS NULL THEN
        RETURN NULL;
    END IF;
    FOR o IN
        WITH RECURSIVE line (id, parent_job_id, depth) AS (
            SELECT NEW.id, NEW.parent_job_id, 0
            UNION ALL
            SELECT j.id, j.parent_job_id, l.depth + 1 FROM jobs j JOIN line l ON j.id = l.parent_job_id
            WHERE l.depth < 64)
        SELECT ob.id, ob.job_id, l.depth FROM line l
        JOIN job_observers ob ON ob.job_id = l.id
        WHERE v_word = ANY (ob.events) AND ob.disabled_at IS NULL
    LOOP
        PERFORM webhook_message_new('job.' || v_word, NULL, o.id, o.job_id, NULL,
            json_build_object('type', 'job.' || v_word, 'id', errand_id('evt'),
                              'created_at', errand_time(now()),
                              'data', json_build_object(
                                   'job_id', o.job_id, 'status', v_word,
                                   'parent_job_id', CASE WHEN o.depth = 0 THEN NEW.parent_job_id
                                                         ELSE (SELECT parent_job_id FROM jobs WHERE id = o.job_id) END,
                                   'subjob_id', CASE WHEN o.depth = 0 THEN NULL ELSE NEW.id END))::text,
            NEW.id);
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_observers AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_notify_observers();

-- ===== The reply API (seed 004) =====

-- Does the job want a verification before it completes? A push job's
-- completed reply then makes it `submitted`, for the verifier.
CREATE FUNCTION job_needs_verification(j jobs) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT j.output_schema IS NOT NULL
        OR coalesce((j.verification ->> 'webhook_url') IS NOT NULL, false)
        OR coalesce((j.verification ->> 'judge')::boolean, false)
$$;

-- POST /api/agents/reply, the run found by its reply token's hash only.
-- Outcomes: ok, invalid_reply_token, run_expired, open_subjobs; for ok,
-- `idempotent` says nothing changed.
CREATE FUNCTION run_reply(p_token_hash text, p_status text, p_message text, p_error text,
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
        SELECT * INTO j FROM jobs WHERE id = r.job_id FOR UPDATE;
    END IF;
    SELECT * INTO r FROM runs WHERE id = r.id FOR UPDATE;
    run_id := r.id;
    job_id := r.job_id;
    IF r.status = 'expired' OR (r.status = 'running' AND r.expires_at <= now()) THEN
        -- expired, whether or not the sweep has marked it yet
        outcome := 'run_expired';
    ELSIF r.status NOT IN ('pending', 'running') THEN
        outcome := 'ok';
        idempotent := true;
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
        ELSIF p_status = 'completed' THEN
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
            IF outcome = 'ok' THEN
                INSERT INTO run_messages (run_id, seq, role, text, status)
                VALUES (r.id, r.message_count + 1, 'agent', p_message, 'completed');
                UPDATE runs SET message_count = message_count + 1 WHERE id = r.id;
                r := run_end(r.id, 'completed', NULL);
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

-- ===== Deliveries (the dispatcher) =====

-- Takes a due message for one attempt: locks it for p_lock seconds and
-- answers what to send. For an agent.run.created, stores the run's token
-- hashes first (the tokens are derived from the run id by the dispatcher).
-- No row when the message is not due, taken by another, or no longer
-- needed (its run ended: the message is closed here).
CREATE FUNCTION delivery_claim(p_message text, p_reply_hash text, p_mcp_hash text, p_lock integer,
                               OUT id text, OUT event text, OUT url text, OUT secrets text[],
                               OUT payload text, OUT attempt integer, OUT run_id text,
                               OUT disabled boolean)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
    m webhook_messages;
    r runs;
    v_run text;
BEGIN
    SELECT w.run_id INTO v_run FROM webhook_messages w WHERE w.id = p_message;
    IF v_run IS NOT NULL THEN
        -- a run another transaction holds (a reply, a sweep) is tried again later
        SELECT * INTO r FROM runs WHERE runs.id = v_run FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO m FROM webhook_messages w
    WHERE w.id = p_message AND w.status = 'pending' AND w.next_attempt_at <= now()
      AND (w.locked_until IS NULL OR w.locked_until < now())
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF m.run_id IS NOT NULL THEN
        IF r.status <> 'pending' THEN
            -- the agent already replied (it had the webhook), or the run ended
            UPDATE webhook_messages SET status = CASE WHEN r.status IN ('running', 'completed')
                                                      THEN 'delivered' ELSE 'cancelled' END,
                   finished_at = now()
            WHERE webhook_messages.id = m.id;
            RETURN;
        END IF;
        IF r.reply_token_hash IS NULL THEN
            UPDATE runs SET reply_token_hash = p_reply_hash, mcp_token_hash = p_mcp_hash
            WHERE runs.id = r.id;
        END IF;
    END IF;
    UPDATE webhook_messages SET attempts = attempts + 1,
           locked_until = now() + make_interval(secs => p_lock)
    WHERE webhook_messages.id = m.id RETURNING * INTO m;
    id := m.id;
    event := m.event;
    payload := m.payload;
    attempt := m.attempts;
    run_id := m.run_id;
    IF m.agent_id IS NOT NULL THEN
        SELECT p.webhook_url, p.webhook_disabled_at IS NOT NULL INTO url, disabled
        FROM principals p WHERE p.id = m.agent_id;
        secrets := ARRAY(SELECT s.secret FROM agent_webhook_secrets s
                         WHERE s.agent_id = m.agent_id AND (s.expires_at IS NULL OR s.expires_at > now())
                         ORDER BY s.id DESC);
    ELSE
        SELECT o.url, o.disabled_at IS NOT NULL, ARRAY[o.secret] INTO url, disabled, secrets
        FROM job_observers o WHERE o.id = m.observer_id;
    END IF;
    disabled := coalesce(disabled, false) OR url IS NULL;
    RETURN NEXT;
END $$;

-- Records one attempt. p_next_delay_ms: when to try again after a failure
-- (NULL: no attempt left). p_gone: the endpoint answered 410 and is
-- disabled. A 2xx delivers the message (and acknowledges its run); a last
-- failure fails the run and its job follows its retry rule. Answers the
-- job whose events to publish (NULL when none).
CREATE FUNCTION delivery_record(p_message text, p_attempt integer, p_target text,
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
        PERFORM 1 FROM jobs WHERE id = (SELECT x.job_id FROM runs x WHERE x.id = m.run_id) FOR UPDATE;
        SELECT * INTO r FROM runs WHERE id = m.run_id FOR UPDATE;
    END IF;
    SELECT * INTO m FROM webhook_messages w WHERE w.id = p_message FOR UPDATE;
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
    job_id := m.job_id;
    IF p_status_code BETWEEN 200 AND 299 THEN
        UPDATE webhook_messages SET status = 'delivered', finished_at = now(), locked_until = NULL
        WHERE id = m.id;
        IF m.run_id IS NOT NULL THEN
            PERFORM run_acknowledge(m.run_id, p_expiry);
        END IF;
        RETURN;
    END IF;
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
    IF m.run_id IS NOT NULL THEN
        IF r.status = 'pending' THEN
            PERFORM run_end(r.id, 'failed', 'the webhook could not be delivered');
            IF r.job_id IS NOT NULL THEN
                PERFORM dispatch_fail_attempt(r.job_id, 'webhook_undeliverable');
            END IF;
        END IF;
    END IF;
END $$;

-- Locks a run for the sweep in the lock order (its job first), skipping
-- rows another transaction holds. False when skipped.
CREATE FUNCTION runs_sweep_lock(p_run text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_job text;
BEGIN
    SELECT job_id INTO v_job FROM runs WHERE id = p_run;
    IF v_job IS NOT NULL THEN
        PERFORM 1 FROM jobs WHERE id = v_job FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END IF;
    PERFORM 1 FROM runs WHERE id = p_run FOR UPDATE SKIP LOCKED;
    RETURN FOUND;
END $$;

-- The run sweep (scheduler): running runs past expires_at → expired;
-- pending runs undelivered after p_delivery_deadline seconds → failed; their
-- jobs follow their retry rule. /v1/jobs jobs past their deadline → failed.
-- Rows another sweeper holds are skipped.
CREATE FUNCTION runs_sweep(p_limit integer, p_delivery_deadline integer,
                           OUT expired_runs integer, OUT failed_runs integer,
                           OUT failed_deadlines integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
    r runs;
BEGIN
    expired_runs := 0;
    failed_runs := 0;
    failed_deadlines := 0;
    FOR v_id IN SELECT id FROM runs WHERE status = 'running' AND expires_at <= now()
                ORDER BY expires_at LIMIT p_limit LOOP
        IF NOT runs_sweep_lock(v_id) THEN
            CONTINUE;
        END IF;
        SELECT * INTO r FROM runs WHERE id = v_id;
        IF r.status <> 'running' OR r.expires_at > now() THEN
            CONTINUE; -- a reply came meanwhile
        END IF;
        r := run_end(v_id, 'expired', 'no reply before the run expired');
        IF r.job_id IS NOT NULL THEN
            PERFORM dispatch_fail_attempt(r.job_id, 'run_expired');
        END IF;
        expired_runs := expired_runs + 1;
    END LOOP;
    FOR v_id IN SELECT id FROM runs WHERE status = 'pending'
                AND created_at <= now() - make_interval(secs => p_delivery_deadline)
                ORDER BY created_at LIMIT p_limit LOOP
        IF NOT runs_sweep_lock(v_id) THEN
            CONTINUE;
        END IF;
        SELECT * INTO r FROM runs WHERE id = v_id;
        IF r.status <> 'pending' THEN
            CONTINUE; -- acknowledged meanwhile
        END IF;
        r := run_end(v_id, 'failed', 'the webhook was not delivered in time');
        IF r.job_id IS NOT NULL THEN
            PERFORM dispatch_fail_attempt(r.job_id, 'webhook_undeliverable');
        END IF;
        failed_runs := failed_runs + 1;
    END LOOP;
    FOR v_id IN SELECT id FROM jobs WHERE kind = 'dispatch' AND deadline_at <= now()
                AND status IN ('queued', 'running', 'submitted')
                ORDER BY deadline_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        PERFORM run_end(x.id, 'failed', 'the job passed its deadline')
        FROM runs x WHERE x.job_id = v_id AND x.status IN ('pending', 'running');
        UPDATE jobs SET status = 'failed', failure_reason = 'deadline_passed', completed_at = now()
        WHERE id = v_id;
        PERFORM ledger_release(v_id);
        failed_deadlines := failed_deadlines + 1;
    END LOOP;
END $$;
