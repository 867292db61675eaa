-- Generated from programs/state_outcomes.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- State outcome feeds (all districts): one district's shared outcomes in one school year; current
-- submissions only. The SQL is macros/contract_models.sql (contract_staging), fed by the
-- contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('state_outcomes') }}
