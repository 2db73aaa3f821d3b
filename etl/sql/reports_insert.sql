-- The good, new reports become issues, each with its 'created' history event and, when it arrives in a
-- later state, one 'transition' event to that state, at the time the file gives for it. One statement:
-- the issues and their history are written together. Returns what was written, by status.
WITH inserted AS (
    INSERT INTO issues AS i (category, title, description, geom, area_id, status, version, reporter_contact,
                             created_at, updated_at, due_at, resolved_at, closed_at, source, external_id)
    SELECT s.category, s.title, s.description, s.pt, s.area_id,
           s.status,
           CASE WHEN s.status = 'reported' THEN 1 ELSE 2 END,
           s.contact,
           s.created_at,
           GREATEST(s.created_at, s.resolved_at, s.closed_at),
           s.created_at + make_interval(days => s.sla_days),
           s.resolved_at,
           s.closed_at,
           'import',
           s.external_id
    FROM stage_checked s
    WHERE s.reasons = '{}' AND NOT s.already
    -- Ids follow the file's order. (Community order was tried for index locality: no faster.)
    ORDER BY s.row_no
    -- Another import of the same file running at the same moment: its rows win, ours are "already".
    ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING i.id, i.external_id, i.status, i.created_at, i.resolved_at, i.closed_at
),
events AS (
    INSERT INTO issue_events (issue_id, at, actor_role, actor_label, kind, from_status, to_status, note, data)
    SELECT n.id, e.at, 'system', 'import', e.kind, e.from_status, e.to_status, e.note,
           jsonb_build_object('source', 'import', 'external_id', n.external_id, 'file', %(file)s::text)
    FROM inserted n
    JOIN stage_checked s ON s.external_id = n.external_id AND s.reasons = '{}'
    CROSS JOIN LATERAL (VALUES
        ('created', n.created_at, NULL, 'reported', NULL),
        ('transition',
         CASE n.status WHEN 'resolved' THEN n.resolved_at WHEN 'confirmed' THEN n.created_at ELSE n.closed_at END,
         'reported', n.status, s.note)
    ) e (kind, at, from_status, to_status, note)
    WHERE e.kind = 'created' OR n.status <> 'reported'
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted),
       (SELECT count(*) FROM events),
       (SELECT COALESCE(jsonb_object_agg(status, n), '{}'::jsonb)
        FROM (SELECT status, count(*) AS n FROM inserted GROUP BY status) x)
