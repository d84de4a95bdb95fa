-- Form 06's rows are sectors within levels. Flows and carried-stock changes per center, sector and half-month (the
-- 1st to the 14th, the 15th to the month's end; `half_month` is its first day), so that form 06 of whole calendar
-- months and of the months of Decree 09/2019 (the 15th to the 14th) reads a row per center, sector and half-month
-- instead of every cell and every (center, procedure)'s stock. Flows and stock changes share a row, so the intake
-- feed writes it once: the stock columns are each pair's stock on its cell days less its previous cell's, as in
-- center_month_stock_change; the flow columns sum the cells (their pending columns sum daily stocks, unread).
--
-- A procedure counts under its latest sector (its newest version's; '' when it has none): where its sector on a
-- day differs (an older version's, or no version that day), the answer corrects it from that procedure's own
-- cells. The catalogue feed moves a procedure's rows when its latest sector changes.
CREATE TABLE center_sector_half_month (
    center_code text NOT NULL,
    sector_code text NOT NULL,
    half_month  date NOT NULL,
    received_direct          bigint NOT NULL,
    received_online          bigint NOT NULL,
    received_postal          bigint NOT NULL,
    resolved_early           bigint NOT NULL,
    resolved_on_time         bigint NOT NULL,
    resolved_late            bigint NOT NULL,
    withdrawn_or_returned    bigint NOT NULL,
    results_returned_by_post bigint NOT NULL,
    apology_notices_issued   bigint NOT NULL,
    pending_in_time          bigint NOT NULL,
    pending_overdue          bigint NOT NULL,
    stock_in_time_change     bigint NOT NULL,
    stock_overdue_change     bigint NOT NULL,
    PRIMARY KEY (center_code, half_month, sector_code)
);

CREATE TEMPORARY TABLE latest_sector ON COMMIT DROP AS
SELECT DISTINCT ON (code) code, sector_code FROM procedure_version ORDER BY code, valid_from DESC;

INSERT INTO center_sector_half_month
SELECT c.center_code, coalesce(l.sector_code, ''),
       (date_trunc('month', c.day) + CASE WHEN extract(day FROM c.day) >= 15 THEN interval '14 days' ELSE interval '0 days' END)::date,
       sum(c.received_direct), sum(c.received_online), sum(c.received_postal), sum(c.resolved_early),
       sum(c.resolved_on_time), sum(c.resolved_late), sum(c.withdrawn_or_returned), sum(c.results_returned_by_post),
       sum(c.apology_notices_issued), sum(c.pending_in_time), sum(c.pending_overdue),
       sum(c.pending_in_time - c.previous_in_time), sum(c.pending_overdue - c.previous_overdue)
FROM (SELECT *, coalesce(lag(pending_in_time) OVER pair, 0) AS previous_in_time,
                coalesce(lag(pending_overdue) OVER pair, 0) AS previous_overdue
      FROM cell WINDOW pair AS (PARTITION BY center_code, procedure_code ORDER BY day)) AS c
LEFT JOIN latest_sector l ON l.code = c.procedure_code
GROUP BY 1, 2, 3;
