-- The copy of the cells, partitioned by the year of the cell's day like intake's, so an archived year can be
-- detached here too (docs/operations.md). Years 2024 to 2027 have partitions of their own, any other day one
-- before them or one after (few partitions, and no default one, for the reasons intake's 0003 gives). The
-- roll-ups stay whole: they are a row per center and day or month.
ALTER TABLE cell RENAME TO cell_unpartitioned;
ALTER INDEX cell_pkey RENAME TO cell_unpartitioned_pkey;
ALTER INDEX cell_procedure_day RENAME TO cell_unpartitioned_procedure_day;
ALTER INDEX cell_latest_stock RENAME TO cell_unpartitioned_latest_stock;

CREATE TABLE cell (LIKE cell_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (day);
ALTER TABLE cell ADD PRIMARY KEY (center_code, day, procedure_code);
CREATE INDEX cell_procedure_day ON cell (procedure_code, day);
CREATE INDEX cell_latest_stock ON cell (center_code, procedure_code, day) INCLUDE (pending_in_time, pending_overdue);

DO $$
BEGIN
    FOR year IN 2024..2027 LOOP
        EXECUTE format('CREATE TABLE cell_y%s PARTITION OF cell FOR VALUES FROM (%L) TO (%L)',
                       year, make_date(year, 1, 1), make_date(year + 1, 1, 1));
    END LOOP;
END
$$;
CREATE TABLE cell_before_2024 PARTITION OF cell FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE cell_after_2027 PARTITION OF cell FOR VALUES FROM ('2028-01-01') TO (MAXVALUE);

INSERT INTO cell SELECT * FROM cell_unpartitioned;
DROP TABLE cell_unpartitioned;
