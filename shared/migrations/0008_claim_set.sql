-- The dispatcher's claim of a loop turn's messages as one set: the
-- messages that are due and free, of a run still pending whose token
-- hashes are stored (or of no run), are locked, counted and answered by
-- three set statements instead of delivery_claim's seven statements a
-- message; only the others (a run that ended, a run without its hashes, a
-- message not due or held by another) go through delivery_claim one by
-- one, which answers or closes them as before.
--
-- The run is read, not locked: a reply that ends it at the same time
-- either closes the message first (then the message is not pending and
-- not taken here) or after (then the webhook goes out for a run that just
-- ended, and its record finds the message closed, as with a reply that
-- comes while the webhook is in flight).
CREATE FUNCTION delivery_claim_many(p_messages text[], p_reply_hashes text[], p_mcp_hashes text[],
                                    p_lock integer,
                                    OUT n bigint, OUT id text, OUT event text, OUT url text,
                                    OUT secrets text[], OUT payload text, OUT attempt integer,
                                    OUT run_id text, OUT disabled boolean)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
    v_ready text[];
BEGIN
    -- PL/pgSQL keeps the statements' plans
    v_ready := ARRAY(
        SELECT w.id FROM webhook_messages w
        LEFT JOIN runs r ON r.id = w.run_id
        WHERE w.id = ANY (p_messages)
          AND w.status = 'pending' AND w.next_attempt_at <= now()
          AND (w.locked_until IS NULL OR w.locked_until < now())
          AND (w.run_id IS NULL OR (r.status = 'pending' AND r.reply_token_hash IS NOT NULL))
        ORDER BY w.id
        FOR UPDATE OF w SKIP LOCKED);
    IF cardinality(v_ready) > 0 THEN
        RETURN QUERY
        WITH taken AS (
            UPDATE webhook_messages w SET attempts = w.attempts + 1,
                   locked_until = now() + make_interval(secs => p_lock)
            WHERE w.id = ANY (v_ready)
            RETURNING w.id, w.event, w.agent_id, w.observer_id, w.payload, w.attempts, w.run_id)
        SELECT x.n, t.id, t.event, coalesce(p.webhook_url, o.url),
               CASE WHEN t.agent_id IS NOT NULL
                    THEN ARRAY(SELECT s.secret FROM agent_webhook_secrets s
                               WHERE s.agent_id = t.agent_id
                               AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.id DESC)
                    ELSE ARRAY[o.secret] END,
               t.payload, t.attempts, t.run_id,
               coalesce(p.webhook_disabled_at, o.disabled_at) IS NOT NULL
               OR coalesce(p.webhook_url, o.url) IS NULL
        FROM taken t
        -- a message asked for twice is answered once, where first asked
        JOIN (SELECT u.m, min(u.n) AS n FROM unnest(p_messages) WITH ORDINALITY u (m, n)
              GROUP BY u.m) x ON x.m = t.id
        LEFT JOIN principals p ON p.id = t.agent_id
        LEFT JOIN job_observers o ON o.id = t.observer_id;
    END IF;
    IF cardinality(v_ready) < cardinality(p_messages) THEN
        -- the others, one by one
        RETURN QUERY
        SELECT x.n, c.*
        FROM unnest(p_messages, p_reply_hashes, p_mcp_hashes) WITH ORDINALITY x (m, rh, mh, n),
             LATERAL delivery_claim(x.m, x.rh, x.mh, p_lock) c
        WHERE x.m <> ALL (v_ready);
    END IF;
END $$;

-- The stream entry of a webhook message names whom it goes to (`to`: the
-- agent's or the observer's id), so that a dispatcher can let the
-- receivers take turns among the entries it has read before it claims
-- them; otherwise as in 0007.
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
           jsonb_build_object('message_id', m.id, 'run_id', p_run,
                              'to', coalesce(p_agent, p_observer))
    FROM m;
    RETURN v_id;
END $$;
