-- Generated from programs/state_outcomes.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- State outcome feeds (all districts): the source's cells on the conformed grain (district or
-- State Total, school year, measure), one row per measure. The SQL is macros/contract_models.sql
-- (contract_district_measures), fed by transform.measures in
-- macros/generated/contract_registry.sql.
{{ contract_district_measures('state_outcomes') }}
