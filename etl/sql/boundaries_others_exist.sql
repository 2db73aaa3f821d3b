-- Are there stored areas of this level that the file does not list? Only then must the file be checked against them.
SELECT EXISTS (
    SELECT 1 FROM areas a
    WHERE a.level = %(level)s
      AND NOT EXISTS (SELECT 1 FROM stage_areas s WHERE s.code = a.code)
)
