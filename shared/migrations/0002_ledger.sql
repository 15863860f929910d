-- The wallet ledger: double-entry accounts, immutable transfers and holds.
--
-- Invariants the database itself enforces, whatever the C code does:
--   * a transfer's entries sum to zero (deferred constraint trigger);
--   * so the balances of all accounts sum to zero (balances change only
--     through entries);
--   * no wallet, earnings, escrow or fees account below zero (CHECK; the
--     UPDATE of a balance takes the row lock, so concurrent spending is
--     serialised and the second spender fails);
--   * transfers and entries are never updated or deleted;
--   * a hold is captured or released once, never both (one status column,
--     guarded updates, unique idempotency keys of the settling transfers).

-- Ids made inside SQL functions: a prefixed ULID in lower case, like ids.c.
CREATE FUNCTION errand_id(prefix text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';
    ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
    u1 bytea := uuid_send(gen_random_uuid());
    u2 bytea := uuid_send(gen_random_uuid());
    n numeric := ms;
    body text := '';
BEGIN
    -- 80 random bits: bytes of two v4 UUIDs that carry no version or variant bits
    FOR i IN 0..5 LOOP n := n * 256 + get_byte(u1, i); END LOOP;
    FOR i IN 10..13 LOOP n := n * 256 + get_byte(u2, i); END LOOP;
    FOR i IN 1..26 LOOP
        body := substr(alphabet, (n % 32)::int + 1, 1) || body;
        n := floor(n / 32);
    END LOOP;
    RETURN prefix || '_' || body;
END $$;

CREATE TABLE ledger_accounts (
    -- 'wallet:<principal>', 'earnings:<principal>', 'escrow:<job>' (the
    -- money held for one job: no row is shared by unrelated jobs, so holds
    -- never queue behind each other), or the system accounts 'fees' and
    -- 'funding' (money from outside: its balance is minus everything ever
    -- topped up)
    id            text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('wallet', 'earnings', 'escrow', 'fees', 'funding')),
    principal_id  text REFERENCES principals (id),
    currency      text NOT NULL DEFAULT 'USD',
    balance       bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('wallet', 'earnings')) = (principal_id IS NOT NULL)),
    CHECK (kind = 'funding' OR balance >= 0)
);

INSERT INTO ledger_accounts (id, kind) VALUES ('fees', 'fees'), ('funding', 'funding');

-- Every principal has a wallet (money to spend) and earnings (money earned).
CREATE FUNCTION ledger_open_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_accounts (id, kind, principal_id)
    VALUES ('wallet:' || NEW.id, 'wallet', NEW.id), ('earnings:' || NEW.id, 'earnings', NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER principals_open_accounts AFTER INSERT ON principals
    FOR EACH ROW EXECUTE FUNCTION ledger_open_accounts();

INSERT INTO ledger_accounts (id, kind, principal_id)
    SELECT 'wallet:' || id, 'wallet', id FROM principals
    UNION ALL
    SELECT 'earnings:' || id, 'earnings', id FROM principals;

CREATE TABLE ledger_transfers (
    id               text PRIMARY KEY,
    -- what makes the transfer happen at most once ('hold:<job>', 'topup:<key>', …)
    idempotency_key  text NOT NULL UNIQUE,
    kind             text NOT NULL CHECK (kind IN ('topup', 'hold', 'capture', 'release', 'fee')),
    job_id           text,
    amount           bigint NOT NULL CHECK (amount > 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_transfers_job ON ledger_transfers (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE ledger_entries (
    transfer_id  text NOT NULL REFERENCES ledger_transfers (id),
    account_id   text NOT NULL REFERENCES ledger_accounts (id),
    -- signed: a positive amount raises the account's balance
    amount       bigint NOT NULL CHECK (amount <> 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transfer_id, account_id)
);

-- A caller's history: its entries, newest first.
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, created_at DESC, transfer_id DESC);

-- Balances move only through entries.
CREATE FUNCTION ledger_apply_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_entries_apply AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_apply_entry();

-- At commit, every transfer touched must balance.
CREATE FUNCTION ledger_check_transfer() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT coalesce(sum(amount), 0) INTO total FROM ledger_entries WHERE transfer_id = NEW.transfer_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'transfer % does not balance: entries sum to %', NEW.transfer_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transfer();

CREATE FUNCTION ledger_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Money held for a job: moved from the payer's wallet to escrow, later
-- captured (to the agent's earnings) or released (back to the wallet).
CREATE TABLE ledger_holds (
    job_id              text PRIMARY KEY,
    payer_id            text NOT NULL REFERENCES principals (id),
    amount              bigint NOT NULL CHECK (amount > 0),
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'captured', 'released')),
    hold_transfer_id    text NOT NULL REFERENCES ledger_transfers (id),
    settle_transfer_id  text REFERENCES ledger_transfers (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    settled_at          timestamptz,
    CHECK ((status = 'pending') = (settle_transfer_id IS NULL))
);

CREATE INDEX ledger_holds_pending ON ledger_holds (payer_id) WHERE status = 'pending';

-- A two-legged transfer of `amount` from one account to another, at most
-- once per key. Returns the transfer id (the earlier one on a repeat). A
-- source account without the money fails with check_violation (23514).
CREATE FUNCTION ledger_transfer(p_key text, p_kind text, p_job text, p_amount bigint,
                                p_from text, p_to text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    INSERT INTO ledger_transfers (id, idempotency_key, kind, job_id, amount)
    VALUES (errand_id('trf'), p_key, p_kind, p_job, p_amount)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT id INTO v_id FROM ledger_transfers WHERE idempotency_key = p_key;
        RETURN v_id;
    END IF;
    INSERT INTO ledger_entries (transfer_id, account_id, amount)
    VALUES (v_id, p_from, -p_amount), (v_id, p_to, p_amount);
    RETURN v_id;
END $$;

-- Holds `amount` of `payer`'s wallet for `job`. Returns true when the hold
-- exists afterwards (made now or before), false when the wallet is short.
CREATE FUNCTION ledger_hold(p_job text, p_payer text, p_amount bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_transfer text;
BEGIN
    -- The wallet's row lock serialises holds of one payer; only then is the
    -- hold looked for, so a concurrent caller sees the first one's hold.
    SELECT balance INTO v_balance FROM ledger_accounts WHERE id = 'wallet:' || p_payer FOR UPDATE;
    IF EXISTS (SELECT 1 FROM ledger_holds WHERE job_id = p_job) THEN
        RETURN true;
    END IF;
    IF v_balance IS NULL OR v_balance < p_amount THEN
        RETURN false;
    END IF;
    INSERT INTO ledger_accounts (id, kind) VALUES ('escrow:' || p_job, 'escrow')
    ON CONFLICT (id) DO NOTHING;
    v_transfer := ledger_transfer('hold:' || p_job, 'hold', p_job, p_amount,
                                  'wallet:' || p_payer, 'escrow:' || p_job);
    INSERT INTO ledger_holds (job_id, payer_id, amount, hold_transfer_id)
    VALUES (p_job, p_payer, p_amount, v_transfer);
    RETURN true;
END $$;

-- Captures the pending hold of `job` for `payee`: the price to the payee's
-- earnings, then the platform fee (floor(price × bps / 10000)) from them.
-- Returns false when there is no pending hold (none, or already settled).
CREATE FUNCTION ledger_capture(p_job text, p_payee text, p_fee_bps int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_amount bigint;
    v_fee bigint;
    v_transfer text;
BEGIN
    SELECT amount INTO v_amount FROM ledger_holds
    WHERE job_id = p_job AND status = 'pending' FOR UPDATE;
    IF v_amount IS NULL THEN
        RETURN false;
    END IF;
    -- Lock order of every ledger function: the principal's account first,
    -- then the job's escrow, then system accounts.
    PERFORM 1 FROM ledger_accounts WHERE id = 'earnings:' || p_payee FOR UPDATE;
    v_transfer := ledger_transfer('capture:' || p_job, 'capture', p_job, v_amount,
                                  'escrow:' || p_job, 'earnings:' || p_payee);
    v_fee := (v_amount * p_fee_bps) / 10000;
    IF v_fee > 0 THEN
        PERFORM ledger_transfer('fee:' || p_job, 'fee', p_job, v_fee, 'earnings:' || p_payee, 'fees');
    END IF;
    UPDATE ledger_holds SET status = 'captured', settle_transfer_id = v_transfer, settled_at = now()
    WHERE job_id = p_job AND status = 'pending';
    RETURN true;
END $$;

-- Releases the pending hold of `job` back to the payer's wallet. Returns
-- false when there is no pending hold.
CREATE FUNCTION ledger_release(p_job text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_hold ledger_holds%ROWTYPE;
    v_transfer text;
BEGIN
    SELECT * INTO v_hold FROM ledger_holds WHERE job_id = p_job AND status = 'pending' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM ledger_accounts WHERE id = 'wallet:' || v_hold.payer_id FOR UPDATE;
    v_transfer := ledger_transfer('release:' || p_job, 'release', p_job, v_hold.amount,
                                  'escrow:' || p_job, 'wallet:' || v_hold.payer_id);
    UPDATE ledger_holds SET status = 'released', settle_transfer_id = v_transfer, settled_at = now()
    WHERE job_id = p_job AND status = 'pending';
    RETURN true;
END $$;

-- The invariants, for tests and operators: one row per violation.
CREATE VIEW ledger_violations AS
    SELECT 'balances do not sum to zero' AS violation, sum(balance)::text AS detail
    FROM ledger_accounts HAVING sum(balance) <> 0
    UNION ALL
    SELECT 'transfer does not balance', transfer_id FROM ledger_entries
    GROUP BY transfer_id HAVING sum(amount) <> 0
    UNION ALL
    SELECT 'account balance differs from its entries', a.id FROM ledger_accounts a
    LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_entries GROUP BY account_id) e
        ON e.account_id = a.id
    WHERE a.balance <> coalesce(e.total, 0)
    UNION ALL
    SELECT 'escrow differs from its job''s pending hold', a.id FROM ledger_accounts a
    LEFT JOIN ledger_holds h ON 'escrow:' || h.job_id = a.id AND h.status = 'pending'
    WHERE a.kind = 'escrow' AND a.balance <> coalesce(h.amount, 0);
