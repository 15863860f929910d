-- Verification (seed 003's `verified`, seed 002's output_schema): each
-- submitted attempt is checked once by one verifier at a time (a lease),
-- its log and verdict are stored, and the job is settled in the same
-- transaction as its transition: a pass completes it and pays the agent, a
-- fail goes through the job's fail logic.

CREATE TABLE verifications (
    job_id       text NOT NULL REFERENCES jobs (id),
    attempt      integer NOT NULL CHECK (attempt >= 0),
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'passed', 'failed')),
    -- the verifier working on it, and until when; another may take over after
    verifier     text,
    lease_until  timestamptz,
    reason       text,
    -- the job's status right after the settlement (canonical)
    settled_status text,
    -- every log line and the verdict, as the SSE stream sent them:
    -- [{"id": stream id, "event": "log" | "verdict", "data": {…}}]
    log          jsonb NOT NULL DEFAULT '[]',
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (job_id, attempt)
);

-- Submitted jobs, for the verifiers' poll (what the stream lost).
CREATE INDEX jobs_submitted ON jobs (submitted_at) WHERE status = 'submitted';

-- Takes attempt `p_attempt` of submitted job `p_job` for verifier
-- `p_verifier` for `p_lease` seconds: no row when the attempt is settled,
-- no longer submitted, or another verifier holds a live lease on it.
CREATE FUNCTION verify_take(p_job text, p_attempt integer, p_verifier text, p_lease integer,
                            OUT kind text, OUT output text, OUT output_schema text,
                            OUT verification text, OUT objective text, OUT constraints text)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
    v verifications;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job FOR UPDATE SKIP LOCKED;
    IF NOT FOUND OR j.status <> 'submitted' OR j.attempt_count <> p_attempt THEN
        RETURN;
    END IF;
    SELECT * INTO v FROM verifications WHERE job_id = p_job AND attempt = p_attempt;
    IF FOUND THEN
        IF v.status <> 'running'
           OR (v.lease_until > now() AND v.verifier IS DISTINCT FROM p_verifier) THEN
            RETURN;
        END IF;
        UPDATE verifications SET verifier = p_verifier,
               lease_until = now() + make_interval(secs => p_lease)
        WHERE job_id = p_job AND attempt = p_attempt;
    ELSE
        INSERT INTO verifications (job_id, attempt, verifier, lease_until)
        VALUES (p_job, p_attempt, p_verifier, now() + make_interval(secs => p_lease));
    END IF;
    kind := j.kind;
    output := CASE WHEN j.kind = 'market' THEN j.output ELSE j.result END::text;
    output_schema := j.output_schema::text;
    verification := j.verification::text;
    objective := coalesce(j.brief ->> 'objective', j.prompt, j.title);
    constraints := coalesce(j.brief -> 'constraints', '{}')::text;
    RETURN NEXT;
END $$;

-- Settles attempt `p_attempt`: the verdict and the log are stored, and in
-- the same transaction a pass completes the job (a marketplace job's hold
-- is captured to the agent, less the fee) and a fail goes through the
-- job's fail logic. Outcome 'ok' with the job's status after, or 'stale'
-- when the attempt was settled already or the job moved on (then nothing
-- changes: a verdict applies once).
CREATE FUNCTION verify_settle(p_job text, p_attempt integer, p_pass boolean, p_reason text,
                              p_log jsonb, p_fee_bps integer,
                              OUT outcome text, OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    j jobs;
BEGIN
    SELECT * INTO j FROM jobs WHERE id = p_job FOR UPDATE;
    IF NOT FOUND OR j.status <> 'submitted' OR j.attempt_count <> p_attempt
       OR EXISTS (SELECT 1 FROM verifications v WHERE v.job_id = p_job AND v.attempt = p_attempt
                  AND v.status <> 'running') THEN
        outcome := 'stale';
        status := j.status;
        RETURN;
    END IF;
    INSERT INTO verifications (job_id, attempt, status, reason, log, finished_at)
    VALUES (p_job, p_attempt, CASE WHEN p_pass THEN 'passed' ELSE 'failed' END, p_reason,
            coalesce(p_log, '[]'), now())
    ON CONFLICT (job_id, attempt) DO UPDATE
        SET status = EXCLUDED.status, reason = EXCLUDED.reason, log = EXCLUDED.log,
            finished_at = EXCLUDED.finished_at, lease_until = NULL;
    IF p_pass THEN
        UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = p_job
        RETURNING * INTO j;
        IF j.kind = 'market' AND j.price_cents > 0 THEN
            PERFORM ledger_capture(p_job, j.agent_id, p_fee_bps);
        END IF;
    ELSIF j.kind = 'market' THEN
        j := job_fail_logic(p_job, p_reason);
    ELSE
        j := dispatch_fail_attempt(p_job, p_reason);
    END IF;
    UPDATE verifications SET settled_status = j.status WHERE job_id = p_job AND attempt = p_attempt;
    outcome := 'ok';
    status := j.status;
END $$;

-- Submitted attempts no verifier holds (the stream lost their entry, or
-- their verifier died): the verifiers' poll takes them.
CREATE FUNCTION verify_due(p_limit integer, OUT job_id text, OUT attempt integer)
RETURNS SETOF record
LANGUAGE sql STABLE AS $$
    SELECT j.id, j.attempt_count FROM jobs j
    WHERE j.status = 'submitted' AND j.submitted_at < now() - interval '5 seconds'
      AND NOT EXISTS (SELECT 1 FROM verifications v WHERE v.job_id = j.id
                      AND v.attempt = j.attempt_count
                      AND (v.status <> 'running' OR v.lease_until > now()))
    ORDER BY j.submitted_at LIMIT p_limit
$$;

-- The stored log of a job's finished verifications, in order, as the SSE
-- stream sends it: [{id, event, data}]. A verification whose verdict
-- entry was not recorded (its verifier died right after settling) gets
-- one made from its row.
CREATE FUNCTION verify_log(p_job text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(x.e ORDER BY v.attempt, x.n), '[]')
    FROM verifications v
    CROSS JOIN LATERAL (
        SELECT t.e, t.n FROM jsonb_array_elements(v.log) WITH ORDINALITY AS t (e, n)
        UNION ALL
        SELECT jsonb_build_object(
                   -- after the log's last entry, even in the same millisecond
                   'id', CASE WHEN last.ms IS NULL
                                   OR (extract(epoch FROM v.finished_at) * 1000)::bigint > last.ms
                              THEN (extract(epoch FROM v.finished_at) * 1000)::bigint || '-0'
                              ELSE last.ms || '-' || (last.seq + 1) END,
                   'event', 'verdict',
                   'data', jsonb_build_object('attempt', v.attempt, 'pass', v.status = 'passed',
                                              'reason', v.reason, 'status', v.settled_status)),
               1000000
        FROM (SELECT split_part(v.log -> -1 ->> 'id', '-', 1)::bigint AS ms,
                     split_part(v.log -> -1 ->> 'id', '-', 2)::bigint AS seq) last
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v.log) y
                          WHERE y ->> 'event' = 'verdict')) x
    WHERE v.job_id = p_job AND v.status <> 'running'
$$;
