-- The procedures with at least one case received online, per center and calendar year: the union of the year's
-- months in `center_month_online`, so a year's "procedures with online cases" reads one set per center.
CREATE TABLE center_year_online (
    center_code text NOT NULL,
    year        date NOT NULL, -- the year's first day
    procedures  bytea NOT NULL,
    PRIMARY KEY (center_code, year)
);
INSERT INTO center_year_online
SELECT m.center_code, date_trunc('year', m.month)::date, bitmap_of(n.number)
FROM center_procedure_month m JOIN procedure_number n ON n.code = m.procedure_code
WHERE m.online_days > 0
GROUP BY 1, 2;
