-- The per-procedure copy of the cells, smaller: keyed by a center's and a procedure's number instead of their
-- codes (a commune procedure's code alone is 22 characters), its measures in 32 bits (intake refuses a measure
-- over 10^9), and only the indexes its readers need. The view `cell` shows it as before, with codes.
--
-- Also: procedure numbers made dense again. Numbering a code with `INSERT … ON CONFLICT DO NOTHING` takes an
-- identity value for every row it tries, known codes included, so every batch that changed a set of procedures
-- with online cases burned numbers, and the sets' bitmaps grew with the numbers burned (53,263 numbers for 1,770
-- procedures after four months of one province). Codes are now numbered only when new; the numbers are given
-- afresh here and the sets rebuilt from `center_procedure_month`, as 0013 and 0019 built them. That table, a
-- count per (center, month, procedure) of the days with online cases, is dropped: where a batch changes whether
-- a cell has online cases, the feed asks the copy of the cells whether the month still has one.

TRUNCATE procedure_number RESTART IDENTITY;
INSERT INTO procedure_number (code)
SELECT procedure_code FROM cell_pair
UNION
SELECT procedure_code FROM center_procedure_month
ORDER BY 1;

DELETE FROM center_month_online;
INSERT INTO center_month_online
SELECT m.center_code, m.month, bitmap_of(n.number)
FROM center_procedure_month m JOIN procedure_number n ON n.code = m.procedure_code
WHERE m.online_days > 0
GROUP BY 1, 2;
DELETE FROM center_year_online;
INSERT INTO center_year_online
SELECT m.center_code, date_trunc('year', m.month)::date, bitmap_of(n.number)
FROM center_procedure_month m JOIN procedure_number n ON n.code = m.procedure_code
WHERE m.online_days > 0
GROUP BY 1, 2;

-- Centers numbered on first sight, like procedures.
CREATE TABLE center_number (
    code   text PRIMARY KEY,
    number integer GENERATED ALWAYS AS IDENTITY UNIQUE
);
INSERT INTO center_number (code)
SELECT center_code FROM cell_pair
UNION
SELECT center_code FROM center_procedure_month
ORDER BY 1;

-- Its key serves the upsert and a pair's latest cell on or before a day; the two other indexes find a center's
-- days and a procedure's days (both compact: many cells share each of their keys).
CREATE TABLE procedure_cell (
    change_id                bigint NOT NULL,
    center_number            integer NOT NULL,
    procedure_number         integer NOT NULL,
    day                      date NOT NULL,
    received_direct          integer NOT NULL,
    received_online          integer NOT NULL,
    received_postal          integer NOT NULL,
    resolved_early           integer NOT NULL,
    resolved_on_time         integer NOT NULL,
    resolved_late            integer NOT NULL,
    withdrawn_or_returned    integer NOT NULL,
    results_returned_by_post integer NOT NULL,
    apology_notices_issued   integer NOT NULL,
    pending_in_time          integer NOT NULL,
    pending_overdue          integer NOT NULL,
    PRIMARY KEY (center_number, procedure_number, day)
) PARTITION BY RANGE (day);
CREATE INDEX procedure_cell_center_day ON procedure_cell (center_number, day);
CREATE INDEX procedure_cell_procedure_day ON procedure_cell (procedure_number, day);

-- By year, as 0014 partitioned `cell`.
DO $$
BEGIN
    FOR year IN 2024..2027 LOOP
        EXECUTE format('CREATE TABLE procedure_cell_y%s PARTITION OF procedure_cell FOR VALUES FROM (%L) TO (%L)',
                       year, make_date(year, 1, 1), make_date(year + 1, 1, 1));
    END LOOP;
END
$$;
CREATE TABLE procedure_cell_before_2024 PARTITION OF procedure_cell FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE procedure_cell_after_2027 PARTITION OF procedure_cell FOR VALUES FROM ('2028-01-01') TO (MAXVALUE);

INSERT INTO procedure_cell
SELECT c.change_id, cn.number, pn.number, c.day, c.received_direct, c.received_online, c.received_postal,
       c.resolved_early, c.resolved_on_time, c.resolved_late, c.withdrawn_or_returned, c.results_returned_by_post,
       c.apology_notices_issued, c.pending_in_time, c.pending_overdue
FROM cell c
JOIN center_number cn ON cn.code = c.center_code
JOIN procedure_number pn ON pn.code = c.procedure_code
ORDER BY c.day, cn.number, pn.number;
DROP TABLE cell;

-- Each pair's latest cell, by numbers too.
ALTER TABLE cell_pair RENAME TO cell_pair_by_code;
ALTER INDEX cell_pair_pkey RENAME TO cell_pair_by_code_pkey;
CREATE TABLE cell_pair (
    center_number    integer NOT NULL,
    procedure_number integer NOT NULL,
    last_day         date,
    last_in_time     integer NOT NULL DEFAULT 0,
    last_overdue     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (center_number, procedure_number)
);
INSERT INTO cell_pair
SELECT cn.number, pn.number, p.last_day, p.last_in_time, p.last_overdue
FROM cell_pair_by_code p
JOIN center_number cn ON cn.code = p.center_code
JOIN procedure_number pn ON pn.code = p.procedure_code;
DROP TABLE cell_pair_by_code;

CREATE VIEW cell AS
SELECT cn.code AS center_code, c.day, pn.code AS procedure_code,
       c.received_direct::bigint AS received_direct, c.received_online::bigint AS received_online,
       c.received_postal::bigint AS received_postal, c.resolved_early::bigint AS resolved_early,
       c.resolved_on_time::bigint AS resolved_on_time, c.resolved_late::bigint AS resolved_late,
       c.withdrawn_or_returned::bigint AS withdrawn_or_returned,
       c.results_returned_by_post::bigint AS results_returned_by_post,
       c.apology_notices_issued::bigint AS apology_notices_issued,
       c.pending_in_time::bigint AS pending_in_time, c.pending_overdue::bigint AS pending_overdue, c.change_id
FROM procedure_cell c
JOIN center_number cn ON cn.number = c.center_number
JOIN procedure_number pn ON pn.number = c.procedure_number;

-- Tables whose rows every batch updates in place keep room on each page, so an update can stay on its page and
-- the versions it leaves behind are pruned there, instead of the table growing by a row per update.
ALTER TABLE center_sector_half_month SET (fillfactor = 50);
ALTER TABLE cell_pair SET (fillfactor = 50);
ALTER TABLE center_day SET (fillfactor = 70);
ALTER TABLE center_day_full_online SET (fillfactor = 70);
ALTER TABLE center_stock_change SET (fillfactor = 70);
ALTER TABLE center_month SET (fillfactor = 50);
ALTER TABLE center_month_full_online SET (fillfactor = 50);
ALTER TABLE center_month_stock_change SET (fillfactor = 50);
ALTER TABLE center_year SET (fillfactor = 50);
ALTER TABLE center_year_full_online SET (fillfactor = 50);
ALTER TABLE center_year_stock_change SET (fillfactor = 50);

DROP TABLE center_procedure_month;
