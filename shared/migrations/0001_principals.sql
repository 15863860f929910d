-- Principals (users, agents, admins), their projects and their API keys.

CREATE TABLE projects (
    id          text PRIMARY KEY CHECK (id ~ '^prj_[0-9a-hjkmnp-tv-z]{26}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Wave 1 has one project; every agent belongs to it.
INSERT INTO projects (id, name) VALUES ('prj_00000000000000000000000000', 'default');

CREATE TABLE principals (
    id            text PRIMARY KEY CHECK (id ~ '^(usr|agt|adm)_[0-9a-hjkmnp-tv-z]{26}$'),
    role          text NOT NULL CHECK (role IN ('user', 'agent', 'admin')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    project_id    text NOT NULL REFERENCES projects (id),
    capabilities  text[] NOT NULL DEFAULT '{}',
    webhook_url   text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- the id's prefix follows the role
    CHECK (substr(id, 1, 4) = CASE role WHEN 'user' THEN 'usr_'
                                        WHEN 'agent' THEN 'agt_'
                                        ELSE 'adm_' END),
    -- capabilities and webhooks are an agent's
    CHECK (role = 'agent' OR (capabilities = '{}' AND webhook_url IS NULL))
);

CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id ~ '^key_[0-9a-hjkmnp-tv-z]{26}$'),
    principal_id  text NOT NULL REFERENCES principals (id),
    -- hex SHA-256 of the whole key; the key itself is never stored
    key_hash      text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE INDEX api_keys_principal ON api_keys (principal_id);
