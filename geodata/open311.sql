-- Service requests as Open311 GeoReport v2 shows them (geodata/open311.py fills the parameters).
--
-- Only public columns are named here: never reporter_contact, reporter_token_hash or reporter_id, so this
-- file is the one place to audit for what Open311 can leak.
--
-- geodata/open311.py appends the WHERE clause (a list of ids, or a window of requested_datetime with
-- filters), the order and the limit.
SELECT i.id,
       i.status,
       i.category,
       c.name AS category_name,
       c.name_en AS category_name_en,
       c.sla_days,
       i.description,
       i.created_at,
       i.updated_at,
       i.closed_at,
       i.due_at,
       i.duplicate_of,
       ST_Y(i.geom) AS lat,
       ST_X(i.geom) AS lon,
       p.name AS party_name,
       p.name_en AS party_name_en,
       a.name AS community_name,
       a.name_en AS community_name_en,
       s.name AS street_name,
       s.name_en AS street_name_en,
       t.note AS status_notes
FROM issues i
JOIN categories c ON c.code = i.category
JOIN areas a ON a.id = i.area_id
-- The street office answers for its communities: the community's parent when that is a street.
LEFT JOIN areas s ON s.id = a.parent_id AND s.level = 'street'
LEFT JOIN parties p ON p.id = i.assigned_party_id
-- Why the issue is in its current state: the note of the transition that brought it there.
LEFT JOIN LATERAL (
    SELECT e.note FROM issue_events e
    WHERE e.issue_id = i.id AND e.kind = 'transition'
    ORDER BY e.id DESC
    LIMIT 1
) t ON true
