-- The change log stops repeating the cell. A cell's first value is logged by its key alone: its measures,
-- sender and time are those of the cell itself, or, once corrected, the old value the first correction
-- recorded. A correction keeps what it replaced (old measures, sender and computation time) and what it wrote.
-- Intake then keeps each cell about once: the log of a first value is a key and a stream position.
--
-- Rows logged before this keep their values; readers use a logged value when there is one.
ALTER TABLE daily_cell_change
    ALTER COLUMN new_measures DROP NOT NULL,
    ALTER COLUMN sender DROP NOT NULL,
    ALTER COLUMN changed_at DROP NOT NULL,
    ADD COLUMN old_sender text,
    ADD COLUMN old_computed_at timestamptz;

-- What each correction logged so far replaced: the change before it of the same cell.
UPDATE daily_cell_change c
SET old_sender = p.sender, old_computed_at = p.computed_at
FROM (
    SELECT ch.id, ch.day, lag(ch.sender) OVER w AS sender, lag(ch.computed_at) OVER w AS computed_at
    FROM daily_cell_change ch
    JOIN (SELECT DISTINCT center_code, day, procedure_code FROM daily_cell_change WHERE old_measures IS NOT NULL)
        AS corrected USING (center_code, day, procedure_code)
    WINDOW w AS (PARTITION BY ch.center_code, ch.day, ch.procedure_code ORDER BY ch.id)
) AS p
WHERE c.id = p.id AND c.day = p.day AND c.old_measures IS NOT NULL;

-- A cell's sender now names who pushed its value (a re-send of the same value no longer changes it), since the
-- log of a first value reads it from the cell: cells re-sent by someone else get their value's sender back.
UPDATE daily_cell d SET sender = l.sender
FROM (
    SELECT DISTINCT ON (center_code, day, procedure_code) center_code, day, procedure_code, sender
    FROM daily_cell_change ORDER BY center_code, day, procedure_code, id DESC
) AS l
WHERE d.center_code = l.center_code AND d.day = l.day AND d.procedure_code = l.procedure_code
  AND d.sender IS DISTINCT FROM l.sender;

-- Only corrections are looked up by cell (a cell's history, and the value a first change wrote once the cell
-- was corrected); the stream reads by (xid, id), and ids are unique from their sequence.
ALTER TABLE daily_cell_change DROP CONSTRAINT daily_cell_change_pkey;
DROP INDEX daily_cell_change_cell;
CREATE INDEX daily_cell_change_correction ON daily_cell_change (center_code, day, procedure_code, id)
    WHERE old_measures IS NOT NULL;
