-- Who takes part: responsible parties (departments, social work organisations, volunteer groups) and user accounts.
CREATE TABLE parties (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('government', 'social_work', 'volunteer_group')),
    name         text NOT NULL CHECK (btrim(name) <> ''),
    name_en      text,
    -- Private: shown to staff of the party's area only.
    contact      text,
    area_id      bigint REFERENCES areas (id) ON DELETE SET NULL,
    -- Category codes a volunteer group can handle itself (micro-service).
    capabilities text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parties_area_idx ON parties (area_id);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.@-]{3,64}$'),
    -- Private: visible to admins and to staff of the user's areas.
    email           text,
    display_name    text,
    role            text NOT NULL CHECK (role IN ('resident', 'volunteer', 'social_worker', 'official', 'admin')),
    password_hash   text NOT NULL,
    -- The party a staff member or volunteer acts for (a volunteer's group, a social worker's organisation).
    party_id        bigint REFERENCES parties (id) ON DELETE SET NULL,
    active          boolean NOT NULL DEFAULT true,
    -- Part of every session; bumping it ends all of the user's sessions (password change, deactivation).
    session_version integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;

-- The areas (usually communities, or a whole street) a user serves or lives in.
CREATE TABLE user_areas (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    area_id bigint NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, area_id)
);
CREATE INDEX user_areas_area_idx ON user_areas (area_id);
