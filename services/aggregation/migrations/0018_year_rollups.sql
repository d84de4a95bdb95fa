-- Flows and stock changes by calendar year, above the months: a period sums its whole years here, its other whole
-- months by month and its partial months by day, so a year's answer reads one row per center instead of twelve,
-- and a stock on a day reads the center's years before its year, then months, then days.
--
-- Like center_month: `day` is the year's first day.
CREATE TABLE center_year (LIKE center_day INCLUDING ALL);
CREATE TABLE center_year_full_online (LIKE center_day INCLUDING ALL);
INSERT INTO center_year
SELECT center_code, date_trunc('year', day)::date, sum(received_direct), sum(received_online), sum(received_postal),
       sum(resolved_early), sum(resolved_on_time), sum(resolved_late), sum(withdrawn_or_returned),
       sum(results_returned_by_post), sum(apology_notices_issued), sum(pending_in_time), sum(pending_overdue)
FROM center_month GROUP BY 1, 2;
INSERT INTO center_year_full_online
SELECT center_code, date_trunc('year', day)::date, sum(received_direct), sum(received_online), sum(received_postal),
       sum(resolved_early), sum(resolved_on_time), sum(resolved_late), sum(withdrawn_or_returned),
       sum(results_returned_by_post), sum(apology_notices_issued), sum(pending_in_time), sum(pending_overdue)
FROM center_month_full_online GROUP BY 1, 2;

CREATE TABLE center_year_stock_change (
    center_code text NOT NULL,
    year        date NOT NULL, -- the year's first day
    in_time     bigint NOT NULL,
    overdue     bigint NOT NULL,
    PRIMARY KEY (center_code, year)
);
INSERT INTO center_year_stock_change
SELECT center_code, date_trunc('year', month)::date, sum(in_time), sum(overdue)
FROM center_month_stock_change GROUP BY 1, 2;
