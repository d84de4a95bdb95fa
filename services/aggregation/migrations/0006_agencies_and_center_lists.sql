-- The agency view: the agency implementing each procedure version (empty when its decision names none), and the
-- lists of procedures each center receives, so a center's catalogue indicators count its own list.
ALTER TABLE procedure_version ADD COLUMN implementing_agency_code text NOT NULL DEFAULT '';
CREATE TABLE center_procedure_list (
    center_code     text NOT NULL,
    valid_from      date NOT NULL,
    valid_to        date,
    procedure_codes text[] NOT NULL,
    PRIMARY KEY (center_code, valid_from)
);
CREATE TABLE agency (
    code      text PRIMARY KEY,
    name      text NOT NULL,
    unit_code text NOT NULL
);
