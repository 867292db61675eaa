-- Generated from programs/ky_local_labs.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Kentucky Local Laboratories of Learning (Backpack of Success Skills): the source's cells on the
-- conformed grain (district or State Total, school year, measure), one row per measure. The SQL is
-- macros/contract_models.sql (contract_district_measures), fed by transform.measures in
-- macros/generated/contract_registry.sql.
{{ contract_district_measures('ky_local_labs') }}
