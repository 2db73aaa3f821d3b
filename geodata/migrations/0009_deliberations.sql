-- Micro-deliberation (a social worker convenes residents about shared issues; they vote and comment; the meeting
-- is recorded with its decision and follow-up actions) and resident volunteer groups (members, work reports).
-- docs/deliberations.md explains the choices.

-- New kinds of issue history: a deliberation about the issue (opened / decided), and work reported by a group.
-- The allowed kinds are read from the constraint as it stands, so kinds another migration added are kept.
-- NOT VALID: every existing row already passed the old, narrower check; re-reading millions of history rows
-- to prove it again would only make the migration slow.
DO $$
DECLARE
    kinds text[];
BEGIN
    -- Quoted literals of the definition: 'a'::text, ... or one '{a,b}'::text[] array.
    SELECT array_agg(k) INTO kinds
    FROM pg_constraint c,
         regexp_matches(pg_get_constraintdef(c.oid), '''([^'']*)''', 'g') AS m,
         unnest(string_to_array(btrim(m[1], '{}'), ',')) AS k
    WHERE c.conrelid = 'issue_events'::regclass AND c.conname = 'issue_events_kind_check';
    kinds := ARRAY(SELECT DISTINCT k FROM unnest(kinds || ARRAY['deliberation', 'work_report']) AS k ORDER BY k);
    ALTER TABLE issue_events DROP CONSTRAINT issue_events_kind_check;
    EXECUTE format('ALTER TABLE issue_events ADD CONSTRAINT issue_events_kind_check CHECK (kind = ANY (%L::text[])) NOT VALID',
                   kinds);
END
$$;

CREATE TABLE deliberations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area_id         bigint NOT NULL REFERENCES areas (id),
    title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description     text CHECK (char_length(description) <= 4000),
    opened_by       bigint REFERENCES users (id) ON DELETE SET NULL,
    opened_by_label text NOT NULL,
    -- Where and when the residents meet.
    place           geometry(Point, 4326) NOT NULL,
    place_address   text CHECK (char_length(place_address) <= 300),
    meeting_at      timestamptz NOT NULL,
    -- Votes are taken in [votes_open_at, votes_close_at).
    votes_open_at   timestamptz NOT NULL,
    votes_close_at  timestamptz NOT NULL,
    -- open: taking votes / awaiting the meeting; decided: the meeting reached a decision;
    -- closed: the meeting was recorded without one (or the deliberation was called off).
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'decided')),
    attendance      integer CHECK (attendance BETWEEN 0 AND 100000),
    minutes         text CHECK (char_length(minutes) <= 20000),
    decision        text CHECK (char_length(decision) <= 4000),
    decided_at      timestamptz,
    recorded_by     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (votes_close_at > votes_open_at),
    CHECK ((status = 'decided') = (decision IS NOT NULL AND decided_at IS NOT NULL))
);
CREATE INDEX deliberations_area_idx ON deliberations (area_id, votes_close_at DESC);

CREATE TABLE deliberation_issues (
    deliberation_id bigint NOT NULL REFERENCES deliberations (id) ON DELETE CASCADE,
    issue_id        bigint NOT NULL REFERENCES issues (id),
    PRIMARY KEY (deliberation_id, issue_id)
);
CREATE INDEX deliberation_issues_issue_idx ON deliberation_issues (issue_id);

CREATE TABLE deliberation_options (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deliberation_id bigint NOT NULL REFERENCES deliberations (id) ON DELETE CASCADE,
    position        smallint NOT NULL CHECK (position BETWEEN 1 AND 20),
    label           text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
    UNIQUE (deliberation_id, position),
    -- Target of the votes' composite key: a vote can only name an option of its own deliberation.
    UNIQUE (deliberation_id, id)
);

-- One vote per account per deliberation, guaranteed by the database whatever the number of concurrent requests.
-- Who voted for what is never shown; only counts per option are.
CREATE TABLE deliberation_votes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deliberation_id bigint NOT NULL REFERENCES deliberations (id) ON DELETE CASCADE,
    option_id       bigint NOT NULL,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    voter_role      text NOT NULL,
    cast_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (deliberation_id, user_id),
    FOREIGN KEY (deliberation_id, option_id) REFERENCES deliberation_options (deliberation_id, id)
);

CREATE TABLE deliberation_comments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deliberation_id bigint NOT NULL REFERENCES deliberations (id) ON DELETE CASCADE,
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    author_role     text NOT NULL,
    author_label    text NOT NULL,
    body            text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4000),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliberation_comments_idx ON deliberation_comments (deliberation_id, id);

-- What the meeting decided somebody will do, by when.
CREATE TABLE deliberation_actions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deliberation_id bigint NOT NULL REFERENCES deliberations (id) ON DELETE CASCADE,
    description     text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 1000),
    party_id        bigint NOT NULL REFERENCES parties (id),
    due_on          date NOT NULL,
    done_at         timestamptz,
    done_note       text CHECK (char_length(done_note) <= 1000),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliberation_actions_idx ON deliberation_actions (deliberation_id, id);
CREATE INDEX deliberation_actions_party_idx ON deliberation_actions (party_id) WHERE done_at IS NULL;

-- The roster of a volunteer group. users.party_id stays what authorises an account to act for its group
-- (geodata.accounts builds the actor from it), so one person belongs to at most one group; this table adds
-- the member's part in it and when they joined. geodata.groups writes both in one transaction.
CREATE TABLE party_members (
    user_id   bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    party_id  bigint NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    role      text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'leader')),
    added_at  timestamptz NOT NULL DEFAULT now(),
    added_by  bigint REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX party_members_party_idx ON party_members (party_id);

-- Work reports are not a table: each is an issue_events row of kind 'work_report' (note, and data with
-- party_id, minutes, people), so the issue's public timeline shows the work and the history stays append-only.
-- A group's reports are found through its issues (issues_assigned_idx, then issue_events_issue_idx).
