-- Sets kept per center and month, so that the catalogue's "procedures with online cases" and reporting
-- completeness read a row per center and month instead of one per procedure or per day.
--
-- Procedures are numbered on first sight; a set of procedures is a bitmap with bit n (set_bit's numbering: byte
-- n / 8, bit n % 8 from the right) for procedure number n.
CREATE TABLE procedure_number (
    code   text PRIMARY KEY,
    number integer GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0) UNIQUE
);

-- `bits` with bit `n` set, grown with zero bytes as needed.
CREATE FUNCTION with_bit(bits bytea, n integer) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT set_bit(CASE WHEN length(bits) * 8 > n THEN bits
                        ELSE bits || decode(repeat('00', n / 8 + 1 - length(bits)), 'hex') END, n, 1)
$$;
CREATE AGGREGATE bitmap_of(integer) (SFUNC = with_bit, STYPE = bytea, INITCOND = '');

-- The procedures with at least one case received online, per center and calendar month.
CREATE TABLE center_month_online (
    center_code text NOT NULL,
    month       date NOT NULL,
    procedures  bytea NOT NULL,
    PRIMARY KEY (center_code, month)
);

-- The days of a month a center first reported by the end of the next day in Vietnam: bit d - 1 for day d.
CREATE TABLE center_month_report (
    center_code  text NOT NULL,
    month        date NOT NULL,
    on_time_days integer NOT NULL,
    PRIMARY KEY (center_code, month)
);

INSERT INTO procedure_number (code)
SELECT DISTINCT procedure_code FROM center_procedure_month ORDER BY 1;
INSERT INTO center_month_online
SELECT m.center_code, m.month, bitmap_of(n.number)
FROM center_procedure_month m JOIN procedure_number n ON n.code = m.procedure_code
WHERE m.online_days > 0
GROUP BY 1, 2;
INSERT INTO center_month_report
SELECT center_code, date_trunc('month', day)::date,
       bit_or(1 << (extract(day FROM day)::integer - 1))
           FILTER (WHERE first_pushed_at < ((day + 2)::timestamp - interval '7 hours') AT TIME ZONE 'UTC')
FROM center_day_report
GROUP BY 1, 2
HAVING bit_or(1) FILTER (WHERE first_pushed_at < ((day + 2)::timestamp - interval '7 hours') AT TIME ZONE 'UTC') = 1;
