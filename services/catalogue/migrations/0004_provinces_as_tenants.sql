-- Provinces as tenants: a decision is identified by its issuer (a province's unit code, or '' for the nation)
-- and its number, so two provinces' decisions with one number coexist. Each procedure version records the issuer
-- of the decision that made it: only that issuer's later decisions may amend, replace or abolish it.
ALTER TABLE decision ADD COLUMN issuing_unit_code text NOT NULL DEFAULT '';
ALTER TABLE procedure_version ADD COLUMN decision_issuing_unit_code text NOT NULL DEFAULT '';
ALTER TABLE procedure_version DROP CONSTRAINT procedure_version_decision_number_fkey;
ALTER TABLE decision DROP CONSTRAINT decision_pkey;
ALTER TABLE decision ADD PRIMARY KEY (issuing_unit_code, number);
ALTER TABLE procedure_version ADD FOREIGN KEY (decision_issuing_unit_code, decision_number)
    REFERENCES decision (issuing_unit_code, number);
