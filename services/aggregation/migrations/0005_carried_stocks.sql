-- Pending stocks carry forward: a (center, procedure) with no cell on a day holds the stock of its latest earlier
-- cell. Each pair that ever had a cell, and an index that finds a pair's latest cell on or before a day at once.
CREATE TABLE cell_pair (
    center_code    text NOT NULL,
    procedure_code text NOT NULL,
    PRIMARY KEY (center_code, procedure_code)
);
INSERT INTO cell_pair (center_code, procedure_code) SELECT DISTINCT center_code, procedure_code FROM cell;
CREATE INDEX cell_latest_stock ON cell (center_code, procedure_code, day) INCLUDE (pending_in_time, pending_overdue);
