-- Generated from programs/co_local_accountability.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Colorado Local Accountability Systems grants (school measures): one school in a grantee
-- district, for one school year; current submissions only. The SQL is macros/contract_models.sql
-- (contract_staging), fed by the contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('co_local_accountability') }}
