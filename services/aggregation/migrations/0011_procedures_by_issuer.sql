-- Whose catalogue a procedure version belongs to: the issuer of the decision that made it, a province's unit code
-- or '' for the nation. A province's catalogue indicators count the nation's procedures and its own, never
-- another province's. Versions copied before this column existed are taken as the nation's.
ALTER TABLE procedure_version ADD COLUMN issuing_unit_code text NOT NULL DEFAULT '';
