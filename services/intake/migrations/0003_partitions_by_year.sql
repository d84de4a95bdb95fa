-- Cells and their change log, partitioned by the year of the cell's day, so that an old year can be detached and
-- archived whole (docs/operations.md). Years 2024 to 2027 have partitions of their own; any other day (the
-- service accepts 1900 to 2200) goes to one partition before them or one after, which an operator splits as
-- years come (docs/operations.md). Few partitions on purpose: a statement whose days come from its parameters
-- locks every partition and its indexes, and with 28 per table 64 concurrent pushes ran at a third of the rate
-- of 6. No default partition: a year is detached CONCURRENTLY, which PostgreSQL refuses while one exists.
--
-- The tables are rebuilt: renamed aside with their indexes, created partitioned under their names, filled and
-- dropped. The change log keeps its id sequence, so ids (and cursors) continue.

ALTER TABLE daily_cell RENAME TO daily_cell_unpartitioned;
ALTER INDEX daily_cell_pkey RENAME TO daily_cell_unpartitioned_pkey;
ALTER TABLE daily_cell_change RENAME TO daily_cell_change_unpartitioned;
ALTER INDEX daily_cell_change_pkey RENAME TO daily_cell_change_unpartitioned_pkey;
ALTER INDEX daily_cell_change_cell RENAME TO daily_cell_change_unpartitioned_cell;
ALTER INDEX daily_cell_change_stream RENAME TO daily_cell_change_unpartitioned_stream;
ALTER SEQUENCE daily_cell_change_id_seq OWNED BY NONE;

CREATE TABLE daily_cell (LIKE daily_cell_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (day);
ALTER TABLE daily_cell ADD PRIMARY KEY (center_code, day, procedure_code);

-- A change's key is its id and the cell's day (a partitioned table's key includes the partition key); ids alone
-- stay unique, drawn from the one sequence.
CREATE TABLE daily_cell_change (LIKE daily_cell_change_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (day);
ALTER TABLE daily_cell_change ADD PRIMARY KEY (id, day);
CREATE INDEX daily_cell_change_cell ON daily_cell_change (center_code, day, procedure_code);
CREATE INDEX daily_cell_change_stream ON daily_cell_change (xid, id);
ALTER SEQUENCE daily_cell_change_id_seq OWNED BY daily_cell_change.id;

DO $$
BEGIN
    FOR year IN 2024..2027 LOOP
        EXECUTE format('CREATE TABLE daily_cell_y%s PARTITION OF daily_cell FOR VALUES FROM (%L) TO (%L)',
                       year, make_date(year, 1, 1), make_date(year + 1, 1, 1));
        EXECUTE format('CREATE TABLE daily_cell_change_y%s PARTITION OF daily_cell_change FOR VALUES FROM (%L) TO (%L)',
                       year, make_date(year, 1, 1), make_date(year + 1, 1, 1));
    END LOOP;
END
$$;
CREATE TABLE daily_cell_before_2024 PARTITION OF daily_cell FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE daily_cell_after_2027 PARTITION OF daily_cell FOR VALUES FROM ('2028-01-01') TO (MAXVALUE);
CREATE TABLE daily_cell_change_before_2024 PARTITION OF daily_cell_change FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE daily_cell_change_after_2027 PARTITION OF daily_cell_change FOR VALUES FROM ('2028-01-01') TO (MAXVALUE);

INSERT INTO daily_cell SELECT * FROM daily_cell_unpartitioned;
INSERT INTO daily_cell_change SELECT * FROM daily_cell_change_unpartitioned;
DROP TABLE daily_cell_unpartitioned;
DROP TABLE daily_cell_change_unpartitioned;
