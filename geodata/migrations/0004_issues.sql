-- Issues and everything that happens to them: the append-only history, "me too" supports, comments,
-- and the stored first answers of idempotent POSTs.

-- How far apart two reports of one category may be and still be shown as possible duplicates.
ALTER TABLE categories
    ADD COLUMN duplicate_radius_m integer NOT NULL DEFAULT 100 CHECK (duplicate_radius_m BETWEEN 1 AND 5000);
-- A blocked lane or a noisy site is seen from further away than a bag of litter.
UPDATE categories SET duplicate_radius_m = 200 WHERE code IN ('noise', 'illegal_construction', 'fire_lane');

-- RFC 3339 UTC text for API answers, whatever the session's TimeZone.
CREATE FUNCTION utc_iso(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

CREATE TABLE issues (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category            text NOT NULL REFERENCES categories (code) ON UPDATE CASCADE,
    title               text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 120),
    description         text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 4000),
    geom                geometry(Point, 4326) NOT NULL,
    -- The smallest community holding the point, found in the INSERT itself; kept when boundaries are
    -- reloaded later (an issue belongs to the community it was reported in).
    area_id             bigint NOT NULL REFERENCES areas (id),
    status              text NOT NULL DEFAULT 'reported' CHECK (status IN (
                            'reported', 'confirmed', 'rejected', 'assigned', 'duplicate',
                            'in_progress', 'resolved', 'closed', 'reopened')),
    -- Optimistic concurrency: every status or assignment change bumps it; a write naming an older one is refused.
    version             integer NOT NULL DEFAULT 1 CHECK (version > 0),
    reporter_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    -- Private: never part of a public answer.
    reporter_contact    text CHECK (char_length(reporter_contact) <= 200),
    -- SHA-256 (hex) of the anonymous reporter's private-link token; the token itself is never stored.
    reporter_token_hash text CHECK (reporter_token_hash ~ '^[0-9a-f]{64}$'),
    assigned_party_id   bigint REFERENCES parties (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    due_at              timestamptz NOT NULL,
    -- First action of anyone who handles issues (the "response" of a 12345-style hotline).
    acknowledged_at     timestamptz,
    resolved_at         timestamptz,
    -- When the issue reached a final state (closed, rejected or duplicate).
    closed_at           timestamptz,
    duplicate_of        bigint REFERENCES issues (id),
    supports_count      integer NOT NULL DEFAULT 0 CHECK (supports_count >= 0),
    satisfaction        smallint CHECK (satisfaction BETWEEN 1 AND 5),
    source              text NOT NULL DEFAULT 'web' CHECK (source IN ('web', 'api', 'open311', 'import')),
    -- The id the issue has in the system it came from (Open311 client, historical import).
    external_id         text CHECK (char_length(external_id) <= 200),
    CHECK (duplicate_of IS DISTINCT FROM id),
    CHECK ((status = 'duplicate') = (duplicate_of IS NOT NULL))
);
CREATE INDEX issues_geom_gist ON issues USING gist (geom);
CREATE INDEX issues_status_idx ON issues (status);
CREATE INDEX issues_area_status_idx ON issues (area_id, status);
CREATE INDEX issues_category_idx ON issues (category);
-- Keyset pagination walks (created_at DESC, id DESC): newest first is what people read, and imported
-- history has old created_at values with new ids, so id order alone would not be time order. The same
-- index serves since/until ranges; a b-tree is read backwards just as well.
CREATE INDEX issues_created_idx ON issues (created_at, id);
-- The overdue list only ever looks at unfinished issues, a small share of a long-running table.
CREATE INDEX issues_overdue_idx ON issues (due_at)
    WHERE status NOT IN ('resolved', 'closed', 'rejected', 'duplicate');
CREATE INDEX issues_assigned_idx ON issues (assigned_party_id) WHERE assigned_party_id IS NOT NULL;
CREATE INDEX issues_reporter_idx ON issues (reporter_id) WHERE reporter_id IS NOT NULL;
CREATE INDEX issues_duplicate_of_idx ON issues (duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE UNIQUE INDEX issues_token_key ON issues (reporter_token_hash) WHERE reporter_token_hash IS NOT NULL;
-- One issue per id of the system it came from, so a re-run import or a retried Open311 POST adds nothing.
CREATE UNIQUE INDEX issues_external_key ON issues (source, external_id) WHERE external_id IS NOT NULL;

-- The history. No foreign key to users: deleting an account must not need to touch this table.
CREATE TABLE issue_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id    bigint NOT NULL REFERENCES issues (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint,
    actor_role  text NOT NULL DEFAULT 'anonymous',
    -- How the actor appeared when acting (a username, "reporter", "anonymous").
    actor_label text NOT NULL,
    kind        text NOT NULL CHECK (kind IN (
                    'created', 'transition', 'assigned', 'comment', 'comment_hidden', 'support', 'visited')),
    from_status text,
    to_status   text,
    note        text CHECK (char_length(note) <= 4000),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX issue_events_issue_idx ON issue_events (issue_id, id);

-- The database itself keeps the history append-only, whoever connects. (TRUNCATE, an owner's
-- maintenance statement that the test fixtures use to start empty, is not a row change and is left alone.)
CREATE FUNCTION issue_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issue_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new event instead of changing or removing an old one.';
END
$$;
CREATE TRIGGER issue_events_no_update_delete
    BEFORE UPDATE OR DELETE ON issue_events
    FOR EACH ROW EXECUTE FUNCTION issue_events_append_only();

-- "Me too": one per account, or per anonymous client key (a non-reversible key the web layer derives).
CREATE TABLE supports (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id   bigint NOT NULL REFERENCES issues (id),
    user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    client_key text CHECK (char_length(client_key) <= 128),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (user_id IS NOT NULL OR client_key IS NOT NULL)
);
CREATE UNIQUE INDEX supports_user_key ON supports (issue_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX supports_client_key ON supports (issue_id, client_key) WHERE user_id IS NULL;

CREATE TABLE comments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id     bigint NOT NULL REFERENCES issues (id),
    author_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    author_role  text NOT NULL DEFAULT 'anonymous',
    author_label text NOT NULL,
    body         text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Hiding keeps the row (and its history event); only the body stops being shown.
    hidden_at    timestamptz,
    hidden_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    hidden_reason text CHECK (char_length(hidden_reason) <= 500)
);
CREATE INDEX comments_issue_idx ON comments (issue_id, id);

-- The first answer to a POST that carried an Idempotency-Key: a retry with the same key in the same
-- scope gets this answer back and creates nothing.
CREATE TABLE idempotency_keys (
    scope       text NOT NULL,
    key         text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the request body: the same key with a different body is a client error, not a retry.
    fingerprint text NOT NULL,
    status      integer,
    body        jsonb,
    headers     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
