-- Generated from programs/mt_transformational_learning.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Montana Transformational Learning program report (OPI): the source's cells on the conformed
-- grain (district or State Total, school year, measure), one row per measure. The SQL is
-- macros/contract_models.sql (contract_district_measures), fed by transform.measures in
-- macros/generated/contract_registry.sql.
{{ contract_district_measures('mt_transformational_learning') }}
