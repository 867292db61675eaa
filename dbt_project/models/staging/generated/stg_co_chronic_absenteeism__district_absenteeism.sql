-- Generated from programs/co_chronic_absenteeism.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Colorado chronic absenteeism by district (CDE): one district's chronic absenteeism for one
-- school year; current submissions only. The SQL is macros/contract_models.sql (contract_staging),
-- fed by the contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('co_chronic_absenteeism') }}
