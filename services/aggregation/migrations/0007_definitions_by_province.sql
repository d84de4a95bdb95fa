-- Indicator definitions have a scope: '' for the nation, or a province's unit code for that province's own
-- variant, which answers for that province only. Versions count per scope and id.
ALTER TABLE indicator_definition ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE indicator_definition DROP CONSTRAINT indicator_definition_pkey;
ALTER TABLE indicator_definition ADD PRIMARY KEY (scope, id, version);
