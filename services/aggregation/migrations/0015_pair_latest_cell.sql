-- Each pair's latest cell, so a batch that only adds later days to a pair (as every bulk load does) reads its
-- previous stock here instead of searching `cell` (one probe of every year's partition per pair).
ALTER TABLE cell_pair
    ADD COLUMN last_day date,
    ADD COLUMN last_in_time bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_overdue bigint NOT NULL DEFAULT 0;
UPDATE cell_pair p SET (last_day, last_in_time, last_overdue) = (
    SELECT c.day, c.pending_in_time, c.pending_overdue FROM cell c
    WHERE c.center_code = p.center_code AND c.procedure_code = p.procedure_code
    ORDER BY c.day DESC LIMIT 1);
