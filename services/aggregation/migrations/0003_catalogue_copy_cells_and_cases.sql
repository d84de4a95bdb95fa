-- Aggregation's copy of the catalogue, kept from its change stream (cursor in stream_cursor, source
-- 'catalogue', written in the same transaction): the units with their merges, the centers, sectors, procedure
-- versions and the working-day calendar. Answers join these instead of calling the catalogue.
CREATE TABLE unit (
    code              text PRIMARY KEY,
    name              text NOT NULL,
    level             smallint NOT NULL, -- 1 province, 2 district, 3 commune
    parent_code       text,
    valid_from        date NOT NULL,
    valid_to          date,              -- first day it no longer exists
    predecessor_codes text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX unit_parent ON unit (parent_code);

CREATE TABLE center (
    code      text PRIMARY KEY,
    name      text NOT NULL,
    unit_code text NOT NULL
);
CREATE INDEX center_unit ON center (unit_code);

CREATE TABLE sector (
    code text PRIMARY KEY,
    name text NOT NULL
);

-- In force on [valid_from, valid_to).
CREATE TABLE procedure_version (
    code                text NOT NULL,
    valid_from          date NOT NULL,
    valid_to            date,
    name                text NOT NULL,
    sector_code         text NOT NULL,
    implementing_levels smallint[] NOT NULL, -- 1 ministry, 2 province, 3 district, 4 commune
    online_level        smallint NOT NULL,   -- 1 none, 2 partial, 3 full
    PRIMARY KEY (code, valid_from)
);

CREATE TABLE calendar_year (year integer PRIMARY KEY);
CREATE TABLE calendar_exception (
    day  date PRIMARY KEY,
    kind smallint NOT NULL -- 1 holiday, 2 make-up working day
);

-- Every cell as intake holds it, by procedure: for breakdowns by sector, procedure and level, form 06, and
-- recomputing the full-online roll-up when the catalogue changes a procedure's online level.
CREATE TABLE cell (
    center_code              text NOT NULL,
    day                      date NOT NULL,
    procedure_code           text NOT NULL,
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
    PRIMARY KEY (center_code, day, procedure_code)
);
CREATE INDEX cell_procedure_day ON cell (procedure_code, day);

-- Like center_day, for the cells of procedures that were FULL online on the cell's day (Decision 766's
-- full-online case share). Kept from both streams: a cell change adds its difference; a decision that changes
-- procedures' online level recomputes the days it affects from `cell`.
CREATE TABLE center_day_full_online (LIKE center_day INCLUDING ALL);

-- When each (center, day) was first pushed, for reporting completeness.
CREATE TABLE center_day_report (
    center_code     text NOT NULL,
    day             date NOT NULL,
    first_pushed_at timestamptz NOT NULL,
    PRIMARY KEY (center_code, day)
);

-- The case records, as monitoring needs them. `stored` is intake's StoredCase (protobuf).
CREATE TABLE case_record (
    case_code                  text PRIMARY KEY,
    procedure_code             text NOT NULL,
    center_code                text NOT NULL,
    resolving_agency_code      text NOT NULL,
    received_on                date NOT NULL,
    due_date                   date NOT NULL,
    current_due_date           date NOT NULL,
    resolved_on                date,
    open                       boolean NOT NULL,
    late                       boolean NOT NULL, -- resolved late (outcome LATE)
    reschedules                integer NOT NULL,
    notices                    integer NOT NULL,
    late_without_notice        boolean NOT NULL,
    notice_after_deadline      boolean NOT NULL,
    notice_assessed            boolean NOT NULL,
    missed_new_due_date        boolean NOT NULL,
    rescheduled_more_than_once boolean NOT NULL
);
CREATE INDEX case_record_center_due ON case_record (center_code, due_date);
CREATE INDEX case_record_open ON case_record (center_code, due_date) WHERE open;

-- Targets and points of Decision 766-style scores, per definition version.
ALTER TABLE indicator_definition
    ADD COLUMN target double precision CHECK (target > 0 AND target <= 1),
    ADD COLUMN max_points double precision CHECK (max_points > 0);

-- Decision 766 indicator 2.1 (progress) is worth 20 points.
INSERT INTO indicator_definition (id, version, numerator, denominator, description, target, max_points) VALUES
    ('on_time_rate_766', 2,
     'resolved_early + resolved_on_time + pending_in_time',
     'resolved_early + resolved_on_time + resolved_late + pending_in_time + pending_overdue',
     'Decision 766 indicator 2.1: resolved or pending in time per resolved and pending case', NULL, 20),
    ('full_online_case_share', 1,
     'full_online.received_online',
     'full_online.received_direct + full_online.received_online + full_online.received_postal',
     'Decision 766: cases received online for FULL procedures per case of those procedures', NULL, 12),
    ('procedures_offered_online', 1,
     'procedures_online', 'procedures',
     'Procedures with an online service (FULL or PARTIAL) per procedure in force at the level, as of the last day',
     0.5, NULL),
    ('procedures_offered_fully_online', 1,
     'procedures_full_online', 'procedures',
     'FULL online procedures per procedure in force at the level, as of the last day', 0.3, NULL),
    ('procedures_with_online_cases', 1,
     'procedures_online_with_online_cases', 'procedures_online',
     'Procedures offered online with at least one case received online in the period', NULL, NULL),
    ('apology_coverage', 1,
     'late_cases_with_notice', 'late_cases',
     'Late cases (due in the period) with an apology notice, from case records', NULL, NULL),
    ('apology_timeliness', 1,
     'noticed_cases_in_time', 'noticed_cases',
     'Apology notices issued at least one working day before the original due date', NULL, NULL),
    ('reporting_completeness', 1,
     'center_days_reported_on_time', 'center_days_expected',
     'Working days of each center pushed by the end of the next day (Vietnam time)', NULL, NULL);

-- For each center, procedure and calendar month, the days with at least one case received online: "procedures
-- with online cases" over whole months reads this instead of every cell (edge days of a period read `cell`).
CREATE TABLE center_procedure_month (
    center_code    text NOT NULL,
    procedure_code text NOT NULL,
    month          date NOT NULL, -- first day of the calendar month
    online_days    integer NOT NULL,
    PRIMARY KEY (center_code, month, procedure_code)
);
