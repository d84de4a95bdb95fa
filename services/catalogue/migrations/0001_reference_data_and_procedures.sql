-- Administrative units. Codes are national statistics codes, kept opaque.
CREATE TABLE unit (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    level       smallint NOT NULL CHECK (level BETWEEN 1 AND 3), -- 1 province, 2 district, 3 commune
    parent_code text REFERENCES unit (code) DEFERRABLE INITIALLY DEFERRED,
    valid_from  date NOT NULL,
    valid_to    date CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX unit_parent ON unit (parent_code);

-- One-stop centers, each attached to a unit.
CREATE TABLE center (
    code      text PRIMARY KEY,
    name      text NOT NULL,
    unit_code text NOT NULL REFERENCES unit (code)
);
CREATE INDEX center_unit ON center (unit_code);

-- Publication decisions, immutable once published. `content` is the decision as published (protobuf), so that
-- a re-send can be told apart from a conflicting decision with the same number.
CREATE TABLE decision (
    number         text PRIMARY KEY,
    signed_on      date NOT NULL,
    issuer         text NOT NULL,
    effective_from date NOT NULL,
    content        bytea NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now()
);

-- Versions of procedures: each is in force on [valid_from, valid_to) and was made by one decision.
CREATE TABLE procedure_version (
    code                  text NOT NULL,
    valid_from            date NOT NULL,
    valid_to              date CHECK (valid_to IS NULL OR valid_to > valid_from),
    decision_number       text NOT NULL REFERENCES decision (number),
    name                  text NOT NULL,
    sector_code           text NOT NULL,
    implementing_levels   smallint[] NOT NULL,
    implementing_agency   text NOT NULL,
    processing_time_value integer NOT NULL,
    processing_time_unit  smallint NOT NULL,
    has_fees              boolean NOT NULL,
    online_level          smallint NOT NULL CHECK (online_level BETWEEN 1 AND 3), -- 1 none, 2 partial, 3 full
    legacy_online_level   smallint NOT NULL CHECK (legacy_online_level BETWEEN 0 AND 4),
    postal_filing         boolean NOT NULL,
    postal_return         boolean NOT NULL,
    replaces_code         text,
    PRIMARY KEY (code, valid_from)
);
-- At most one open version per procedure.
CREATE UNIQUE INDEX procedure_version_open ON procedure_version (code) WHERE valid_to IS NULL;
