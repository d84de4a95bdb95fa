-- The agency that implements a procedure, by its code among the catalogue's agencies (empty when the decision
-- names none): the key of the agency view (a provincial department's procedures, online or not).
ALTER TABLE procedure_version ADD COLUMN implementing_agency_code text NOT NULL DEFAULT '';
CREATE INDEX procedure_version_agency ON procedure_version (implementing_agency_code) WHERE implementing_agency_code <> '';
