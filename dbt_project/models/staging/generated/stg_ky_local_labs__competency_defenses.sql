-- Generated from programs/ky_local_labs.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Kentucky Local Laboratories of Learning (Backpack of Success Skills): one district's defenses of
-- one success-skill competency at one transition grade; current submissions only. The SQL is
-- macros/contract_models.sql (contract_staging), fed by the contract's fields in
-- macros/generated/contract_registry.sql.
{{ contract_staging('ky_local_labs') }}
