-- Generated from programs/co_local_accountability.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Colorado Local Accountability Systems grants (school measures): the source's cells on the
-- conformed grain (district or State Total, school year, measure), one row per measure. The SQL is
-- macros/contract_models.sql (contract_district_measures), fed by transform.measures in
-- macros/generated/contract_registry.sql.
{{ contract_district_measures('co_local_accountability') }}
