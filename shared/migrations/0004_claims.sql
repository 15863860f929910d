-- The claim of pull in a table of its own: the queued marketplace jobs, and
-- nothing else.
--
-- Pull used to walk the partial index jobs_claimable of the jobs table,
-- oldest first. A job that leaves `queued` leaves its entry in that index
-- until a VACUUM of jobs removes it, and every pull walks over the entries
-- older than the job it takes (visiting the table for each one no scan has
-- yet marked dead). How often VACUUM removes them depends on the size of
-- jobs, not of the queue: autovacuum waits for 20% of the rows to be dead,
-- and VACUUM leaves the indexes alone while fewer than 2% of the table's
-- pages hold dead rows (PostgreSQL's index vacuum bypass). On a table of a
-- million finished jobs, VACUUM reported "index scan bypassed: 859 pages
-- from table (1.66% of total) have 17501 dead item identifiers", and the
-- first pull after it read 656 buffers (15.7 ms) to find the oldest queued
-- job where it read 2 with 10,000 finished jobs.
--
-- claimable_jobs holds one row per queued marketplace job, kept by a trigger
-- on every status change (whoever makes it). It is as large as the queue
-- whatever the history: autovacuum visits it as often as the queue turns
-- over, and its dead rows are on most of its pages, so VACUUM cleans its
-- index too.

CREATE TABLE claimable_jobs (
    job_id                 text PRIMARY KEY REFERENCES jobs (id),
    -- the job's, copied: pull takes the oldest first
    created_at             timestamptz NOT NULL,
    -- the job's, copied (set at creation, never changed)
    required_capabilities  text[] NOT NULL
);

CREATE INDEX claimable_jobs_order ON claimable_jobs (created_at, job_id);

INSERT INTO claimable_jobs (job_id, created_at, required_capabilities)
    SELECT id, created_at, required_capabilities FROM jobs
    WHERE status = 'queued' AND kind = 'market';

DROP INDEX jobs_claimable;

-- A marketplace job enters the queue when it becomes `queued` and leaves it
-- when it stops being `queued`, in the transition's own transaction (the
-- caller holds the job's row lock, so claim rows are only ever written by
-- the holder of the job's lock).
CREATE FUNCTION jobs_track_claimable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        INSERT INTO claimable_jobs (job_id, created_at, required_capabilities)
        VALUES (NEW.id, NEW.created_at, NEW.required_capabilities);
    ELSE
        DELETE FROM claimable_jobs WHERE job_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_claimable_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.kind = 'market' AND NEW.status = 'queued')
    EXECUTE FUNCTION jobs_track_claimable();

CREATE TRIGGER jobs_claimable_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.kind = 'market'
                       AND (OLD.status = 'queued') IS DISTINCT FROM (NEW.status = 'queued'))
    EXECUTE FUNCTION jobs_track_claimable();

-- Holds the oldest queued job whose capabilities the agent has, skipping
-- jobs another transaction has locked (another puller's, a cancel in
-- progress) and jobs the agent rejected recently. The queue gives the order;
-- each candidate's row is locked in jobs, where its status is checked on the
-- row's latest version, so a job taken or cancelled since the queue was read
-- is passed over. Only the job's row is locked, as every other operation
-- does: no lock order to get wrong. (A join of the two tables in one locking
-- query lets the planner walk jobs_pkey over the whole table instead.)
CREATE OR REPLACE FUNCTION market_pull(p_agent text, p_agent_name text, p_caps text[],
                                       p_hold_seconds integer, OUT outcome text, OUT job json)
LANGUAGE plpgsql AS $$
DECLARE
    queue CURSOR FOR
        SELECT c.job_id FROM claimable_jobs c
        WHERE c.required_capabilities <@ p_caps
          AND NOT EXISTS (SELECT 1 FROM job_rejections r
                          WHERE r.job_id = c.job_id AND r.agent_id = p_agent AND r.until > now())
        ORDER BY c.created_at, c.job_id;
    v_id text;
    j jobs;
BEGIN
    OPEN queue;
    LOOP
        FETCH queue INTO v_id;
        EXIT WHEN NOT FOUND;
        SELECT * INTO j FROM jobs WHERE id = v_id AND status = 'queued' AND kind = 'market'
        FOR UPDATE SKIP LOCKED;
        EXIT WHEN FOUND;
    END LOOP;
    CLOSE queue;
    IF j.id IS NULL THEN
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

-- The queue and the jobs agree: for tests and operators, with the checks
-- of 0003.
CREATE OR REPLACE VIEW job_violations AS
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
    WHERE j.status IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT 'queued job not claimable', j.id FROM jobs j
    WHERE j.kind = 'market' AND j.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM claimable_jobs c WHERE c.job_id = j.id)
    UNION ALL
    SELECT 'claimable job not queued', c.job_id FROM claimable_jobs c
    WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id
                      AND j.kind = 'market' AND j.status = 'queued');
