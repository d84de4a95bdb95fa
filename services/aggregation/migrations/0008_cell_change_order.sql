-- The change of intake's log each cell's value came from. Intake's stream is in transaction order, which two
-- writers of one cell can commit in the other order; the change id follows commit order for one cell (the second
-- writer waits for the first's lock), so the cell keeps the value of its highest change id.
ALTER TABLE cell ADD COLUMN change_id bigint NOT NULL DEFAULT 0;
