-- Queries of geodata/deliberations.py, each after a "-- name: <key>" line. Only public columns are named:
-- who voted for what is never selected, only counts per option.

-- name: area
-- The area and whether the meeting place is inside it or within near_m metres of it.
SELECT a.id, a.code, a.name, a.name_en, a.level,
       ST_DWithin(a.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography, %(near_m)s) AS near
FROM areas a WHERE a.id = %(area_id)s;

-- name: issues_in_area
-- The requested issues with whether each lies in the area or in one below it (a street's communities).
WITH RECURSIVE tree AS (
    SELECT id FROM areas WHERE id = %(area_id)s
    UNION
    SELECT a.id FROM areas a JOIN tree ON a.parent_id = tree.id
)
SELECT i.id, i.status, i.area_id IN (SELECT id FROM tree) AS in_area
FROM issues i WHERE i.id = ANY (%(issue_ids)s);

-- name: insert
INSERT INTO deliberations (area_id, title, description, opened_by, opened_by_label, place, place_address, meeting_at,
                           votes_open_at, votes_close_at)
VALUES (%(area_id)s, %(title)s, %(description)s, %(actor_id)s, %(actor_label)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(address)s, %(meeting_at)s, %(votes_open_at)s,
        %(votes_close_at)s)
RETURNING id;

-- name: issue_event
-- One history row on every issue the deliberation is about, so each issue's timeline shows it.
INSERT INTO issue_events (issue_id, actor_id, actor_role, actor_label, kind, note, data)
SELECT di.issue_id, %(actor_id)s, %(actor_role)s, %(actor_label)s, 'deliberation', %(note)s, %(data)s
FROM deliberation_issues di WHERE di.deliberation_id = %(id)s
ORDER BY di.issue_id;

-- name: load
-- phase: where the deliberation stands now (upcoming / voting / counting = window over, no record yet /
-- decided / closed).
SELECT d.id, d.area_id, d.title, d.description, d.opened_by_label, ST_Y(d.place) AS lat, ST_X(d.place) AS lon,
       d.place_address, utc_iso(d.meeting_at) AS meeting_at, utc_iso(d.votes_open_at) AS votes_open_at,
       utc_iso(d.votes_close_at) AS votes_close_at, d.status, d.attendance, d.minutes, d.decision,
       utc_iso(d.decided_at) AS decided_at, utc_iso(d.created_at) AS created_at,
       CASE WHEN d.status <> 'open' THEN d.status
            WHEN now() < d.votes_open_at THEN 'upcoming'
            WHEN now() < d.votes_close_at THEN 'voting'
            ELSE 'counting' END AS phase,
       a.code AS area_code, a.name AS area_name, a.name_en AS area_name_en,
       (SELECT count(*) FROM deliberation_votes v WHERE v.deliberation_id = d.id) AS votes_total
FROM deliberations d JOIN areas a ON a.id = d.area_id
WHERE d.id = %(id)s;

-- name: lock
-- The window is judged on the database's clock, in the transaction that writes the vote.
SELECT d.id, d.area_id, d.status, d.title,
       now() < d.votes_open_at AS before_window,
       now() >= d.votes_close_at AS after_window
FROM deliberations d WHERE d.id = %(id)s
FOR SHARE;

-- name: linked_issues
SELECT i.id, i.title, i.status, i.category, i.area_id
FROM deliberation_issues di JOIN issues i ON i.id = di.issue_id
WHERE di.deliberation_id = %(id)s ORDER BY i.id;

-- name: options
SELECT o.id, o.position, o.label,
       (SELECT count(*) FROM deliberation_votes v WHERE v.option_id = o.id) AS votes
FROM deliberation_options o WHERE o.deliberation_id = %(id)s ORDER BY o.position;

-- name: comments
SELECT c.id, c.author_label, c.author_role, c.body, utc_iso(c.created_at) AS created_at
FROM deliberation_comments c WHERE c.deliberation_id = %(id)s ORDER BY c.id;

-- name: actions
SELECT x.id, x.description, x.party_id, p.name AS party_name, p.name_en AS party_name_en, p.kind AS party_kind,
       x.due_on::text AS due_on, utc_iso(x.done_at) AS done_at, x.done_note,
       x.done_at IS NULL AND x.due_on < current_date AS overdue
FROM deliberation_actions x JOIN parties p ON p.id = x.party_id
WHERE x.deliberation_id = %(id)s ORDER BY x.due_on, x.id;

-- name: vote
-- ON CONFLICT waits for a concurrent vote of the same account to commit and then inserts nothing: exactly
-- one of two simultaneous votes is stored, and the other caller learns it voted already.
INSERT INTO deliberation_votes (deliberation_id, option_id, user_id, voter_role)
VALUES (%(id)s, %(option_id)s, %(user_id)s, %(role)s)
ON CONFLICT (deliberation_id, user_id) DO NOTHING
RETURNING id, utc_iso(cast_at) AS cast_at;

-- name: list
SELECT d.id, d.area_id, a.code AS area_code, a.name AS area_name, a.name_en AS area_name_en, d.title, d.status,
       CASE WHEN d.status <> 'open' THEN d.status
            WHEN now() < d.votes_open_at THEN 'upcoming'
            WHEN now() < d.votes_close_at THEN 'voting'
            ELSE 'counting' END AS phase,
       utc_iso(d.meeting_at) AS meeting_at, utc_iso(d.votes_open_at) AS votes_open_at,
       utc_iso(d.votes_close_at) AS votes_close_at, d.place_address,
       (SELECT count(*) FROM deliberation_issues di WHERE di.deliberation_id = d.id) AS issues_count,
       (SELECT count(*) FROM deliberation_votes v WHERE v.deliberation_id = d.id) AS votes_total
FROM deliberations d JOIN areas a ON a.id = d.area_id
WHERE %(area_ids)s::bigint[] IS NULL OR d.area_id = ANY (%(area_ids)s)
-- Open ones first, then the most recent meetings.
ORDER BY d.status <> 'open', d.meeting_at DESC, d.id DESC
LIMIT %(limit)s;
