-- Merges: the predecessor unit's territory went to the successor on the predecessor's valid_to.
CREATE TABLE unit_succession (
    predecessor_code text NOT NULL REFERENCES unit (code) DEFERRABLE INITIALLY DEFERRED,
    successor_code   text NOT NULL REFERENCES unit (code) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (predecessor_code, successor_code)
);
CREATE INDEX unit_succession_successor ON unit_succession (successor_code);
CREATE INDEX unit_level_validity ON unit (level, valid_from);

CREATE TABLE sector (
    code text PRIMARY KEY,
    name text NOT NULL
);

-- Agencies that resolve cases. kind: 1 provincial department, 2 people's committee, 3 central branch.
CREATE TABLE agency (
    code      text PRIMARY KEY,
    name      text NOT NULL,
    unit_code text NOT NULL REFERENCES unit (code),
    kind      smallint NOT NULL CHECK (kind BETWEEN 1 AND 3)
);
CREATE INDEX agency_unit ON agency (unit_code);

-- kind: 1 provincial center, 2 local (commune, or district before July 2025), 3 branch of parent_center_code.
ALTER TABLE center
    ADD COLUMN kind smallint NOT NULL DEFAULT 2 CHECK (kind BETWEEN 1 AND 3),
    ADD COLUMN parent_center_code text REFERENCES center (code) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE center ALTER COLUMN kind DROP DEFAULT;

-- The published list of procedures a center receives, in force on [valid_from, valid_to).
CREATE TABLE center_procedure_list (
    center_code     text NOT NULL REFERENCES center (code),
    valid_from      date NOT NULL,
    valid_to        date CHECK (valid_to IS NULL OR valid_to > valid_from),
    procedure_codes text[] NOT NULL,
    source          text NOT NULL,
    PRIMARY KEY (center_code, valid_from)
);

-- Working-day calendar: the loaded years and their exceptions to the weekday/weekend rule.
-- kind: 1 holiday (a day off), 2 make-up working day (a worked weekend day).
CREATE TABLE calendar_year (
    year       integer PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE calendar_exception (
    day  date PRIMARY KEY,
    kind smallint NOT NULL CHECK (kind BETWEEN 1 AND 2),
    name text NOT NULL
);

-- What made each version (1 new, 2 amended, 3 replaced), and processing times that differ by filing channel.
ALTER TABLE procedure_version ADD COLUMN action smallint NOT NULL DEFAULT 1 CHECK (action BETWEEN 1 AND 3);
ALTER TABLE procedure_version ALTER COLUMN action DROP DEFAULT;
CREATE INDEX procedure_version_replaces ON procedure_version (replaces_code) WHERE replaces_code IS NOT NULL;
CREATE INDEX procedure_version_in_force ON procedure_version (valid_from, valid_to);
CREATE TABLE procedure_channel_time (
    code       text NOT NULL,
    valid_from date NOT NULL,
    channel    smallint NOT NULL CHECK (channel BETWEEN 1 AND 3), -- 1 direct, 2 online, 3 postal
    value      integer NOT NULL,
    unit       smallint NOT NULL CHECK (unit BETWEEN 1 AND 3),
    PRIMARY KEY (code, valid_from, channel),
    FOREIGN KEY (code, valid_from) REFERENCES procedure_version (code, valid_from)
);

-- Every committed change, in commit order: writers hold the 'catalogue.write' advisory lock, so cursors are
-- assigned in the order transactions commit and a reader never skips one. `change` is a WatchChangesResponse
-- without its cursor and time (protobuf).
CREATE TABLE change_log (
    cursor       bigserial PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now(),
    change       bytea NOT NULL
);
