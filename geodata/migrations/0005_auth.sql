-- Accounts: API tokens, browser sessions, the audit log, and the counters of the rate limits.

-- Tokens for machine clients (and Open311's api_key). Only the SHA-256 of the token is kept, so a copy of
-- the database does not let anyone act as a client; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    -- The role the token acts with: the user's own or one whose permissions are within it.
    role         text NOT NULL CHECK (role IN ('resident', 'volunteer', 'social_worker', 'official', 'admin')),
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- The first characters of the token, so that an admin can tell tokens apart without the secret.
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Signed-in browser sessions. The cookie carries a random session id; only its SHA-256 is kept here, and
-- deleting the row ends the session at once (sign-out, password change, deactivation), which a signed
-- cookie alone could not do: a copy of the cookie would stay valid until it expired.
CREATE TABLE user_sessions (
    id_hash      text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

-- Who did what, when: every staff action and account change. Append-only (see the trigger), and it names
-- the actor by id and label without a foreign key, so the record outlives the account.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint,
    actor_label text NOT NULL,
    actor_role  text NOT NULL,
    -- Set when the actor used an API token rather than a signed-in session.
    via_token   text,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    object_type text,
    object_id   text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Rate-limit counters shared by every worker process (geodata/ratelimit.py). UNLOGGED: no WAL is
-- written for these hot, short-lived rows, and losing them in a crash only resets the windows.
CREATE UNLOGGED TABLE rate_limits (
    key        text PRIMARY KEY,
    hits       integer NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at);
