-- The job core: one table for every kind of job, the canonical state
-- machine enforced by the database, the outbox, and the marketplace
-- operations of seed 003 as functions (each one statement for the caller).

CREATE TABLE job_statuses (status text PRIMARY KEY, terminal boolean NOT NULL);
INSERT INTO job_statuses VALUES
    ('proposed', false), ('pending_payment', false), ('pending', false), ('queued', false),
    ('held', false), ('running', false), ('submitted', false), ('blocked', false),
    ('paused', false), ('completed', true), ('failed', true), ('cancelled', true),
    ('archived', true);

-- The canonical transitions (CONTRACT.md); nothing else is allowed.
CREATE TABLE job_transitions (
    from_status  text NOT NULL REFERENCES job_statuses (status),
    to_status    text NOT NULL REFERENCES job_statuses (status),
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO job_transitions VALUES
    ('proposed', 'queued'), ('proposed', 'pending'), ('proposed', 'pending_payment'),
    ('proposed', 'cancelled'),
    ('pending_payment', 'queued'), ('pending_payment', 'pending'), ('pending_payment', 'cancelled'),
    ('pending', 'queued'), ('pending', 'blocked'), ('pending', 'paused'), ('pending', 'cancelled'),
    ('queued', 'held'), ('queued', 'running'), ('queued', 'paused'), ('queued', 'cancelled'),
    ('held', 'running'), ('held', 'queued'), ('held', 'cancelled'),
    ('running', 'submitted'), ('running', 'completed'), ('running', 'queued'),
    ('running', 'failed'), ('running', 'cancelled'),
    ('submitted', 'completed'), ('submitted', 'queued'), ('submitted', 'failed'),
    ('submitted', 'cancelled'),
    ('blocked', 'queued'), ('blocked', 'cancelled'),
    ('paused', 'pending'), ('paused', 'queued'), ('paused', 'cancelled'),
    ('completed', 'archived'), ('failed', 'archived'), ('cancelled', 'archived');

CREATE TABLE jobs (
    id                      text PRIMARY KEY CHECK (id ~ '^job_[0-9a-hjkmnp-tv-z]{26}$'),
    -- which surface made it: the marketplace (003), a dispatch (002), a
    -- conversation (000) or a background job (001)
    kind                    text NOT NULL CHECK (kind IN ('market', 'dispatch', 'conversation', 'background')),
    status                  text NOT NULL REFERENCES job_statuses (status),
    paused_from             text REFERENCES job_statuses (status),
    sender_id               text NOT NULL REFERENCES principals (id),
    project_id              text NOT NULL REFERENCES projects (id),
    -- the holder, acceptor or assigned agent
    agent_id                text REFERENCES principals (id),
    agent_name              text,
    parent_job_id           text REFERENCES jobs (id),
    title                   text NOT NULL DEFAULT '',
    description             text NOT NULL DEFAULT '',
    requirements            text NOT NULL DEFAULT '',
    prompt                  text,
    brief                   jsonb,
    metadata                jsonb,
    required_capabilities   text[] NOT NULL DEFAULT '{}',
    price_cents             bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    time_limit_seconds      integer CHECK (time_limit_seconds > 0),
    attempt_count           integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    max_attempts            integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    cancellation_requested  boolean NOT NULL DEFAULT false,
    output_schema           jsonb,
    verification            jsonb,
    -- environment variables, encrypted by the gateway (never stored in clear)
    env_vars_sealed         text,
    attachments             text[] NOT NULL DEFAULT '{}',
    output                  jsonb,
    output_attachments      text[] NOT NULL DEFAULT '{}',
    result                  jsonb,
    tokens_used             bigint,
    failure_reason          text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    hold_expires_at         timestamptz,
    accepted_at             timestamptz,
    deadline_at             timestamptz,
    submitted_at            timestamptz,
    completed_at            timestamptz,
    CHECK ((status = 'held') = (hold_expires_at IS NOT NULL) OR kind <> 'market'),
    CHECK (status NOT IN ('held', 'running', 'submitted') OR agent_id IS NOT NULL OR kind <> 'market')
);

-- The claim of pull: only claimable rows, oldest first. It stays small
-- however many finished jobs the table holds.
CREATE INDEX jobs_claimable ON jobs (created_at, id) WHERE status = 'queued' AND kind = 'market';
CREATE INDEX jobs_sender ON jobs (sender_id, created_at DESC, id DESC);
CREATE INDEX jobs_hold_expiry ON jobs (hold_expires_at) WHERE status = 'held';
CREATE INDEX jobs_deadline ON jobs (deadline_at) WHERE status = 'running' AND deadline_at IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
-- Who may read an attachment: the jobs that name it.
CREATE INDEX jobs_attachments ON jobs USING gin (attachments) WHERE attachments <> '{}';
CREATE INDEX jobs_output_attachments ON jobs USING gin (output_attachments)
    WHERE output_attachments <> '{}';

-- Every agent that ever held a job: it may still read it (CONTRACT.md).
CREATE TABLE job_holders (
    job_id     text NOT NULL REFERENCES jobs (id),
    agent_id   text NOT NULL REFERENCES principals (id),
    held_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, job_id)
);

-- A job an agent rejected is not offered to it again until `until`.
CREATE TABLE job_rejections (
    job_id    text NOT NULL REFERENCES jobs (id),
    agent_id  text NOT NULL REFERENCES principals (id),
    until     timestamptz NOT NULL,
    PRIMARY KEY (job_id, agent_id)
);

-- The outbox: every transition's event, written in the transition's own
-- transaction; published to Redis after commit (and by the relay for
-- whatever a crash left unpublished).
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    stream        text NOT NULL CHECK (stream IN ('events', 'verify', 'dispatch')),
    type          text NOT NULL,
    job_id        text,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- a relay that took the row publishes it before this time, or another may
    claimed_until timestamptz,
    published_at  timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_job ON outbox (job_id, id) WHERE published_at IS NULL;

-- The state machine and the outbox in one place: a status change that is
-- not a canonical transition is refused, and every change writes its event.
CREATE FUNCTION jobs_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status
       AND NOT EXISTS (SELECT 1 FROM job_transitions
                       WHERE from_status = OLD.status AND to_status = NEW.status) THEN
        RAISE EXCEPTION 'job % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'job_transition';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_transition BEFORE INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_guard_transition();

CREATE FUNCTION jobs_write_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_from text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
    v_payload jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
        RETURN NULL;
    END IF;
    v_payload := jsonb_build_object(
        'job_id', NEW.id, 'kind', NEW.kind, 'from', v_from, 'status', NEW.status,
        'sender_id', NEW.sender_id, 'agent_id', NEW.agent_id,
        'parent_job_id', NEW.parent_job_id, 'attempt', NEW.attempt_count,
        'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    INSERT INTO outbox (event_id, stream, type, job_id, payload)
    VALUES (errand_id('evt'), 'events', 'job.' || NEW.status, NEW.id, v_payload);
    IF NEW.status = 'submitted' THEN
        INSERT INTO outbox (event_id, stream, type, job_id, payload)
        VALUES (errand_id('evt'), 'verify', 'job.submitted', NEW.id, v_payload);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_event AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_write_event();

-- Attachments: uploaded first, named by jobs and submissions.
CREATE TABLE attachments (
    id            text PRIMARY KEY CHECK (id ~ '^att_[0-9a-hjkmnp-tv-z]{26}$'),
    uploader_id   text NOT NULL REFERENCES principals (id),
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    sha256        text NOT NULL,
    content       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key records: the first response, replayed for 24 h.
CREATE TABLE idempotency_keys (
    principal_id     text NOT NULL,
    route            text NOT NULL,
    key              text NOT NULL,
    request_hash     text NOT NULL,
    status           integer,          -- NULL while the first request runs
    response         text,
    response_type    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, route, key)
);

CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- ===== The marketplace operations (seed 003) =====
-- Each returns (outcome, job): outcome 'ok' or a named refusal, and the
-- job row as JSON (NULL when not found).

-- The fail logic of seed 003, for a job in `running` or `submitted`:
-- cancellation requested → cancelled with refund; attempts exhausted →
-- failed with refund; else back to the queue for another agent.
CREATE FUNCTION job_fail_logic(p_job text, p_reason text) RETURNS jobs
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job FOR UPDATE;
    IF j.cancellation_requested THEN
        UPDATE jobs SET status = 'cancelled', failure_reason = p_reason, completed_at = now()
        WHERE id = p_job RETURNING * INTO j;
        PERFORM ledger_release(p_job);
    ELSIF j.attempt_count >= j.max_attempts THEN
        UPDATE jobs SET status = 'failed', failure_reason = p_reason, completed_at = now()
        WHERE id = p_job RETURNING * INTO j;
        PERFORM ledger_release(p_job);
    ELSE
        -- the next agent starts clean: the last attempt's output is not its
        UPDATE jobs SET status = 'queued', agent_id = NULL, agent_name = NULL,
               hold_expires_at = NULL, accepted_at = NULL, deadline_at = NULL,
               submitted_at = NULL, output = NULL, output_attachments = '{}',
               failure_reason = p_reason
        WHERE id = p_job RETURNING * INTO j;
    END IF;
    RETURN j;
END $$;

CREATE FUNCTION market_create(p_id text, p_sender text, p_project text, p_title text,
                              p_description text, p_requirements text, p_prompt text,
                              p_price bigint, p_time_limit integer, p_caps jsonb,
                              p_output_schema jsonb, p_verification jsonb,
                              p_env_vars_sealed text, p_attachments jsonb,
                              OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
    v_attachments text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_attachments, '[]')));
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(v_attachments) a
               WHERE NOT EXISTS (SELECT 1 FROM attachments t WHERE t.id = a AND t.uploader_id = p_sender)) THEN
        outcome := 'attachment_not_found';
        RETURN;
    END IF;
    INSERT INTO jobs (id, kind, status, sender_id, project_id, title, description, requirements,
                      prompt, price_cents, time_limit_seconds, required_capabilities,
                      output_schema, verification, env_vars_sealed, attachments)
    VALUES (p_id, 'market', 'pending_payment', p_sender, p_project, p_title, p_description,
            p_requirements, p_prompt, p_price, p_time_limit,
            ARRAY(SELECT jsonb_array_elements_text(coalesce(p_caps, '[]'))),
            p_output_schema, p_verification, p_env_vars_sealed, v_attachments)
    RETURNING * INTO j;
    IF p_price = 0 OR ledger_hold(p_id, p_sender, p_price) THEN
        UPDATE jobs SET status = 'queued' WHERE id = p_id RETURNING * INTO j;
        outcome := 'ok';
    ELSE
        outcome := 'insufficient_balance';
    END IF;
    job := row_to_json(j);
END $$;

CREATE FUNCTION market_pay(p_job text, p_sender text, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job AND sender_id = p_sender AND kind = 'market' FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status <> 'pending_payment' THEN
        outcome := 'not_pending_payment';
    ELSIF j.price_cents = 0 OR ledger_hold(p_job, p_sender, j.price_cents) THEN
        UPDATE jobs SET status = 'queued' WHERE id = p_job RETURNING * INTO j;
        outcome := 'ok';
    ELSE
        outcome := 'insufficient_balance';
    END IF;
    job := row_to_json(j);
END $$;

-- Seed 003's cancel table: pending_payment → cancelled; queued or held →
-- cancelled with refund; accepted or submitted → cancellation requested;
-- terminal → nothing.
CREATE FUNCTION market_cancel(p_job text, p_sender text, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job AND sender_id = p_sender AND kind = 'market' FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status IN ('pending_payment', 'queued', 'held') THEN
        UPDATE jobs SET status = 'cancelled', agent_id = CASE WHEN j.status = 'held' THEN NULL ELSE agent_id END,
               hold_expires_at = NULL, completed_at = now()
        WHERE id = p_job RETURNING * INTO j;
        PERFORM ledger_release(p_job);
    ELSIF j.status IN ('running', 'submitted') THEN
        UPDATE jobs SET cancellation_requested = true WHERE id = p_job RETURNING * INTO j;
    END IF;
    outcome := 'ok';
    job := row_to_json(j);
END $$;

-- Holds the oldest queued job whose capabilities the agent has, skipping
-- rows another puller has locked and jobs the agent rejected recently.
CREATE FUNCTION market_pull(p_agent text, p_agent_name text, p_caps text[], p_hold_seconds integer,
                            OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs
    WHERE status = 'queued' AND kind = 'market' AND required_capabilities <@ p_caps
      AND NOT EXISTS (SELECT 1 FROM job_rejections r
                      WHERE r.job_id = jobs.id AND r.agent_id = p_agent AND r.until > now())
    ORDER BY created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        outcome := 'none';
        RETURN;
    END IF;
    UPDATE jobs SET status = 'held', agent_id = p_agent, agent_name = p_agent_name,
           hold_expires_at = now() + make_interval(secs => p_hold_seconds)
    WHERE id = j.id AND status = 'queued'
    RETURNING * INTO j;
    INSERT INTO job_holders (job_id, agent_id) VALUES (j.id, p_agent) ON CONFLICT DO NOTHING;
    outcome := 'ok';
    job := row_to_json(j);
END $$;

-- The job as an agent may act on it, locked: one it holds or held. The
-- row's id is NULL when there is none (not found, or never the agent's).
CREATE FUNCTION market_lock_for_agent(p_job text, p_agent text) RETURNS jobs
LANGUAGE sql AS $$
    SELECT j.* FROM jobs j
    WHERE j.id = p_job AND j.kind = 'market'
      AND EXISTS (SELECT 1 FROM job_holders h WHERE h.job_id = j.id AND h.agent_id = p_agent)
    FOR UPDATE OF j
$$;

-- An expired hold found at request time goes back to the queue (no attempt).
CREATE FUNCTION market_expire_hold(p_job text) RETURNS jobs
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    UPDATE jobs SET status = 'queued', agent_id = NULL, agent_name = NULL, hold_expires_at = NULL
    WHERE id = p_job AND status = 'held' AND hold_expires_at <= now()
    RETURNING * INTO j;
    RETURN j;
END $$;

CREATE FUNCTION market_reject(p_job text, p_agent text, p_hold_seconds integer,
                              OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    j := market_lock_for_agent(p_job, p_agent);
    IF j.id IS NULL THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status = 'held' AND j.agent_id = p_agent AND j.hold_expires_at <= now() THEN
        j := market_expire_hold(p_job);
        outcome := 'not_held';
    ELSIF j.status = 'held' AND j.agent_id = p_agent THEN
        UPDATE jobs SET status = 'queued', agent_id = NULL, agent_name = NULL, hold_expires_at = NULL
        WHERE id = p_job AND status = 'held' RETURNING * INTO j;
        INSERT INTO job_rejections (job_id, agent_id, until)
        VALUES (p_job, p_agent, now() + make_interval(secs => p_hold_seconds))
        ON CONFLICT (job_id, agent_id) DO UPDATE SET until = EXCLUDED.until;
        outcome := 'ok';
    ELSE
        outcome := 'not_held';
    END IF;
    job := row_to_json(j);
END $$;

CREATE FUNCTION market_accept(p_job text, p_agent text, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    j := market_lock_for_agent(p_job, p_agent);
    IF j.id IS NULL THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status = 'held' AND j.agent_id = p_agent AND j.hold_expires_at <= now() THEN
        j := market_expire_hold(p_job);
        outcome := 'hold_expired';
    ELSIF j.status = 'held' AND j.agent_id = p_agent THEN
        UPDATE jobs SET status = 'running', hold_expires_at = NULL, accepted_at = now(),
               deadline_at = now() + make_interval(secs => time_limit_seconds),
               attempt_count = attempt_count + 1
        WHERE id = p_job AND status = 'held' RETURNING * INTO j;
        outcome := 'ok';
    ELSE
        outcome := 'not_held';
    END IF;
    job := row_to_json(j);
END $$;

CREATE FUNCTION market_submit(p_job text, p_agent text, p_output jsonb, p_attachments jsonb,
                              OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
    v_attachments text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_attachments, '[]')));
BEGIN
    j := market_lock_for_agent(p_job, p_agent);
    IF j.id IS NULL THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status <> 'running' OR j.agent_id <> p_agent THEN
        outcome := 'not_accepted';
    ELSIF j.deadline_at <= now() THEN
        -- the deadline passed: the attempt fails now, as the sweep would
        j := job_fail_logic(p_job, 'deadline_passed');
        outcome := 'deadline_passed';
    ELSIF EXISTS (SELECT 1 FROM unnest(v_attachments) a
                  WHERE NOT EXISTS (SELECT 1 FROM attachments t WHERE t.id = a AND t.uploader_id = p_agent)) THEN
        outcome := 'attachment_not_found';
    ELSE
        UPDATE jobs SET status = 'submitted', output = p_output, output_attachments = v_attachments,
               submitted_at = now()
        WHERE id = p_job AND status = 'running' RETURNING * INTO j;
        outcome := 'ok';
    END IF;
    job := row_to_json(j);
END $$;

CREATE FUNCTION market_fail(p_job text, p_agent text, p_reason text, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    j := market_lock_for_agent(p_job, p_agent);
    IF j.id IS NULL THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF j.status <> 'running' OR j.agent_id <> p_agent THEN
        outcome := 'not_accepted';
    ELSE
        j := job_fail_logic(p_job, coalesce(p_reason, 'failed by the agent'));
        outcome := 'ok';
    END IF;
    job := row_to_json(j);
END $$;

-- The sweep (scheduler, and GET /api/cron/enforce-deadlines): expired holds
-- back to the queue, accepted jobs past their deadline through the fail
-- logic. Rows another sweeper holds are skipped, so sweepers never do the
-- same work twice.
CREATE FUNCTION market_sweep(p_limit integer, OUT released_holds integer, OUT failed_deadlines integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    released_holds := 0;
    failed_deadlines := 0;
    FOR v_id IN SELECT id FROM jobs WHERE status = 'held' AND hold_expires_at <= now()
                ORDER BY hold_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        IF (market_expire_hold(v_id)).id IS NOT NULL THEN
            released_holds := released_holds + 1;
        END IF;
    END LOOP;
    FOR v_id IN SELECT id FROM jobs WHERE status = 'running' AND kind = 'market' AND deadline_at <= now()
                ORDER BY deadline_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        PERFORM job_fail_logic(v_id, 'deadline_passed');
        failed_deadlines := failed_deadlines + 1;
    END LOOP;
END $$;

-- Jobs whose state and money disagree: for tests and operators.
CREATE VIEW job_violations AS
    SELECT 'active job without its hold' AS violation, j.id AS job_id FROM jobs j
    WHERE j.kind = 'market' AND j.price_cents > 0
      AND j.status IN ('queued', 'held', 'running', 'submitted')
      AND NOT EXISTS (SELECT 1 FROM ledger_holds h WHERE h.job_id = j.id AND h.status = 'pending')
    UNION ALL
    SELECT 'pending hold without an active job', h.job_id FROM ledger_holds h
    WHERE h.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = h.job_id
                      AND j.status IN ('queued', 'held', 'running', 'submitted'))
    UNION ALL
    SELECT 'finished job with a pending hold', j.id FROM jobs j
    JOIN ledger_holds h ON h.job_id = j.id AND h.status = 'pending'
    WHERE j.status IN ('completed', 'failed', 'cancelled');
