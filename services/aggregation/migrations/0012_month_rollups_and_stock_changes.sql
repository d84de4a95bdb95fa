-- Answers that grow with centers x months, not with days or (center, procedure) pairs.
--
-- Flows by month: like center_day and center_day_full_online, one row per center and calendar month (`day` is the
-- month's first day). A period sums its whole months here and its partial months at either end by day.
CREATE TABLE center_month (LIKE center_day INCLUDING ALL);
CREATE TABLE center_month_full_online (LIKE center_day INCLUDING ALL);
INSERT INTO center_month
SELECT center_code, date_trunc('month', day)::date, sum(received_direct), sum(received_online), sum(received_postal),
       sum(resolved_early), sum(resolved_on_time), sum(resolved_late), sum(withdrawn_or_returned),
       sum(results_returned_by_post), sum(apology_notices_issued), sum(pending_in_time), sum(pending_overdue)
FROM center_day GROUP BY 1, 2;
INSERT INTO center_month_full_online
SELECT center_code, date_trunc('month', day)::date, sum(received_direct), sum(received_online), sum(received_postal),
       sum(resolved_early), sum(resolved_on_time), sum(resolved_late), sum(withdrawn_or_returned),
       sum(results_returned_by_post), sum(apology_notices_issued), sum(pending_in_time), sum(pending_overdue)
FROM center_day_full_online GROUP BY 1, 2;

-- Pending stocks carry forward: a (center, procedure) holds the stock of its latest cell until its next. The stock
-- of a center on a day is then the sum, over the days up to it, of how the center's carried stock changed on each:
-- on a day with cells, each of its pairs' new stock less that pair's previous cell's. Kept by day and summed by
-- month, so a stock on a month's last day reads a center's months, and on another day adds the days of its month.
CREATE TABLE center_stock_change (
    center_code text NOT NULL,
    day         date NOT NULL,
    in_time     bigint NOT NULL,
    overdue     bigint NOT NULL,
    PRIMARY KEY (center_code, day)
);
CREATE TABLE center_month_stock_change (
    center_code text NOT NULL,
    month       date NOT NULL, -- the month's first day
    in_time     bigint NOT NULL,
    overdue     bigint NOT NULL,
    PRIMARY KEY (center_code, month)
);
INSERT INTO center_stock_change
SELECT center_code, day, sum(in_time), sum(overdue) FROM (
    SELECT center_code, day,
           pending_in_time - coalesce(lag(pending_in_time) OVER pair, 0) AS in_time,
           pending_overdue - coalesce(lag(pending_overdue) OVER pair, 0) AS overdue
    FROM cell WINDOW pair AS (PARTITION BY center_code, procedure_code ORDER BY day)
) AS changes
GROUP BY 1, 2 HAVING sum(in_time) <> 0 OR sum(overdue) <> 0;
INSERT INTO center_month_stock_change
SELECT center_code, date_trunc('month', day)::date, sum(in_time), sum(overdue) FROM center_stock_change GROUP BY 1, 2;
