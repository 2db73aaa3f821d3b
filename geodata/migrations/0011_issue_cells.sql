-- The H3 cell of every issue at each resolution the hot spot analysis and the heatmap offer (5..11), so
-- that binning a million issues is one GROUP BY instead of a million latlng_to_cell calls per request.
--
-- PostgreSQL has no H3 here (h3-pg is not installed), so the cells are computed in Python
-- (geodata/dashboard.py fill_cells) and stored beside the issue. A row appears, with NULL cells, in the
-- statement that inserts the issue (a statement-level trigger, cheap for COPY too); fill_cells computes
-- the NULL ones before each analysis. One column per resolution rather than the parents of one fine cell:
-- H3 is not exactly hierarchical, and a point's cell at resolution 9 is not always the parent of its
-- cell at resolution 11, so only latlng_to_cell at each resolution gives the bins the statistics expect.
CREATE TABLE issue_cells (
    issue_id bigint PRIMARY KEY REFERENCES issues (id) ON DELETE CASCADE,
    h3_5     bigint,
    h3_6     bigint,
    h3_7     bigint,
    h3_8     bigint,
    h3_9     bigint,
    h3_10    bigint,
    h3_11    bigint
);
-- The rows still to compute: a handful between two analyses.
CREATE INDEX issue_cells_pending_idx ON issue_cells (issue_id) WHERE h3_11 IS NULL;

INSERT INTO issue_cells (issue_id) SELECT id FROM issues;

CREATE FUNCTION issue_cells_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO issue_cells (issue_id) SELECT id FROM new_rows ON CONFLICT (issue_id) DO NOTHING;
    ELSE
        -- A moved point is binned again.
        UPDATE issue_cells c SET h3_5 = NULL, h3_6 = NULL, h3_7 = NULL, h3_8 = NULL, h3_9 = NULL,
                                 h3_10 = NULL, h3_11 = NULL
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE c.issue_id = n.id AND NOT ST_Equals(n.geom, o.geom);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER issue_cells_insert AFTER INSERT ON issues
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION issue_cells_queue();
CREATE TRIGGER issue_cells_update AFTER UPDATE ON issues
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION issue_cells_queue();
