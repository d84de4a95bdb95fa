-- Periodic reports: what each commune, department and province submitted for a reporting period, every version
-- kept as it was submitted.

-- One reporter's report for one period. The reviewer is the province (province_code) for a commune or
-- department, the nation for a province.
CREATE TABLE report (
    id              bigserial PRIMARY KEY,
    reporter_kind   smallint NOT NULL,
    reporter_code   text NOT NULL,
    reporter_name   text NOT NULL,
    province_code   text NOT NULL,
    period_kind     smallint NOT NULL,
    year            integer NOT NULL,
    number          integer NOT NULL,
    cut_off         smallint NOT NULL,
    month_starts_on integer NOT NULL,
    first_day       date NOT NULL,
    last_day        date NOT NULL,
    UNIQUE (reporter_kind, reporter_code, period_kind, year, number, cut_off, month_starts_on)
);
CREATE INDEX report_by_province ON report (province_code, period_kind, year, number);

-- Each version: its review, and its figures as a protobuf `ReportVersion` (freshness, form 06, indicators, the
-- days the counts run to, and for a province its units' statuses), frozen at submission.
CREATE TABLE report_version (
    report_id      bigint NOT NULL REFERENCES report,
    version        integer NOT NULL,
    status         smallint NOT NULL,
    submitted_by   text NOT NULL,
    submitted_at   timestamptz NOT NULL,
    reviewed_by    text NOT NULL DEFAULT '',
    reviewed_at    timestamptz,
    return_reason  text NOT NULL DEFAULT '',
    note           text NOT NULL,
    intake_position bigint[] NOT NULL,
    figures        bytea NOT NULL,
    PRIMARY KEY (report_id, version)
);

-- The files of each version, byte for byte as submitted.
CREATE TABLE report_file (
    report_id    bigint NOT NULL,
    version      integer NOT NULL,
    format       text NOT NULL,
    file_name    text NOT NULL,
    content_type text NOT NULL,
    content      bytea NOT NULL,
    sha256       text NOT NULL,
    PRIMARY KEY (report_id, version, format),
    FOREIGN KEY (report_id, version) REFERENCES report_version
);

-- The centers and days each report covers: the intake feed keeps the changes to those cells after submission.
CREATE TABLE report_coverage (
    center_code text NOT NULL,
    report_id   bigint NOT NULL REFERENCES report,
    first_day   date NOT NULL,
    last_day    date NOT NULL,
    PRIMARY KEY (center_code, report_id)
);

-- Changes to cells some submitted report covers, applied after it was submitted: the corrections behind the
-- differences between a report and the current figures.
CREATE TABLE report_correction (
    center_code    text NOT NULL,
    day            date NOT NULL,
    procedure_code text NOT NULL,
    position       bigint[] NOT NULL,
    cursor         text NOT NULL,
    changed_at     timestamptz,
    sender         text NOT NULL,
    old_measures   bigint[] NOT NULL,
    new_measures   bigint[] NOT NULL,
    PRIMARY KEY (center_code, day, position, procedure_code)
);

-- Days after a period's last day each kind of reporter's report is due, for a period kind: the nation's defaults
-- (province_code '') and each province's own. Defaults after Decree 09/2019/ND-CP's 15th-to-14th periods:
-- communes and departments by the 16th (2 days), provinces by the 20th (6 days).
CREATE TABLE report_deadline (
    province_code         text NOT NULL,
    period_kind           smallint NOT NULL,
    reporter_kind         smallint NOT NULL,
    days_after_period_end integer NOT NULL,
    PRIMARY KEY (province_code, period_kind, reporter_kind)
);
INSERT INTO report_deadline
SELECT '', kind, reporter, CASE reporter WHEN 1 THEN 6 ELSE 2 END
FROM generate_series(1, 5) AS kind, generate_series(1, 3) AS reporter;
