-- Generated from programs/nh_learn_everywhere.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- New Hampshire Learn Everywhere credits (approved providers): one student's credit in one
-- approved program; current submissions only. The SQL is macros/contract_models.sql
-- (contract_staging), fed by the contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('nh_learn_everywhere') }}
