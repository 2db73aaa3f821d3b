-- Walkabouts: a social worker's planned walk past open issues (geodata/walkabouts.py), and its stops with
-- what was found at each. New tables only, so the migration is instant on a database of any size.

CREATE TABLE walkabouts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The key of the read-only share link (/walkabouts/<token>): 128 random bits, url-safe base64.
    share_token      text NOT NULL UNIQUE CHECK (share_token ~ '^[A-Za-z0-9_-]{22}$'),
    -- What was chosen: a community (or street), or a polygon drawn on the map. For a polygon, area_id is
    -- the community it overlaps most among those the planner serves, so that its staff can open the plan.
    selection        text NOT NULL CHECK (selection IN ('area', 'polygon')),
    area_id          bigint REFERENCES areas (id) ON DELETE SET NULL,
    polygon          geometry(Polygon, 4326),
    filters          jsonb NOT NULL DEFAULT '{}'::jsonb,
    start_kind       text NOT NULL CHECK (start_kind IN ('office', 'point', 'location')),
    start_geom       geometry(Point, 4326) NOT NULL,
    return_to_start  boolean NOT NULL DEFAULT true,
    max_stops        integer CHECK (max_stops >= 0),
    max_minutes      double precision CHECK (max_minutes >= 0),
    speed_kmh        double precision NOT NULL CHECK (speed_kmh > 0),
    detour           double precision NOT NULL CHECK (detour >= 1),
    dwell_min        double precision NOT NULL CHECK (dwell_min >= 0),
    planned_by       bigint REFERENCES users (id) ON DELETE SET NULL,
    planned_by_label text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Totals of the whole walk: the legs to every stop plus, for a closed tour, the way back.
    distance_m       double precision NOT NULL CHECK (distance_m >= 0),
    walk_minutes     double precision NOT NULL CHECK (walk_minutes >= 0),
    total_minutes    double precision NOT NULL CHECK (total_minutes >= 0),
    return_distance_m double precision CHECK (return_distance_m >= 0),
    return_minutes   double precision CHECK (return_minutes >= 0),
    -- How many selected issues the limits left out (the lowest-priority ones), and which limits did.
    left_out         integer NOT NULL DEFAULT 0 CHECK (left_out >= 0),
    cut_by           text[] NOT NULL DEFAULT '{}',
    route            geometry(LineString, 4326) NOT NULL,
    CHECK ((selection = 'polygon') = (polygon IS NOT NULL))
);
CREATE INDEX walkabouts_area_idx ON walkabouts (area_id, created_at DESC);
CREATE INDEX walkabouts_planned_by_idx ON walkabouts (planned_by, created_at DESC);

CREATE TABLE walkabout_stops (
    walkabout_id      bigint NOT NULL REFERENCES walkabouts (id) ON DELETE CASCADE,
    seq               integer NOT NULL CHECK (seq >= 1),
    issue_id          bigint NOT NULL REFERENCES issues (id),
    -- The walk from the previous stop (the start for seq 1) to this one; dwell not included.
    leg_distance_m    double precision NOT NULL CHECK (leg_distance_m >= 0),
    leg_walk_minutes  double precision NOT NULL CHECK (leg_walk_minutes >= 0),
    -- What the social worker found there (the latest mark; every mark is also an issue_events row).
    visited_at        timestamptz,
    outcome           text CHECK (outcome IN ('visited', 'confirmed', 'fixed', 'not_found')),
    note              text CHECK (char_length(note) <= 4000),
    visited_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    -- The "visited" history event of the latest mark, and the status change it made (if any).
    event_id          bigint REFERENCES issue_events (id),
    from_status       text,
    to_status         text,
    PRIMARY KEY (walkabout_id, seq),
    UNIQUE (walkabout_id, issue_id),
    CHECK ((outcome IS NULL) = (visited_at IS NULL))
);
CREATE INDEX walkabout_stops_issue_idx ON walkabout_stops (issue_id);
