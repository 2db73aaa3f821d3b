-- The filtered issues as exports list them (geodata/exports.py appends the WHERE clause and the order).
--
-- The reporter's contact is selected only when the export asked for it (%(contact)s); geodata/exports.py
-- then keeps it only on rows the actor may see it for (permission issue.view_contact).
SELECT i.id,
       i.category,
       c.name AS category_name,
       c.name_en AS category_name_en,
       i.title,
       i.description,
       i.status,
       a.code AS area_code,
       a.name AS area_name,
       a.name_en AS area_name_en,
       ST_X(i.geom) AS lon,
       ST_Y(i.geom) AS lat,
       i.created_at,
       i.acknowledged_at,
       i.resolved_at,
       i.closed_at,
       i.due_at,
       p.name AS party_name,
       p.kind AS party_kind,
       i.satisfaction,
       i.supports_count,
       i.duplicate_of,
       i.source,
       i.area_id,
       CASE WHEN %(contact)s THEN i.reporter_contact END AS reporter_contact
FROM issues i
JOIN areas a ON a.id = i.area_id
JOIN categories c ON c.code = i.category
LEFT JOIN parties p ON p.id = i.assigned_party_id
