-- Generated from programs/wa_mastery_learning.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Washington Mastery-Based Learning Collaborative (OSPI): one participating district in one school
-- year; current submissions only. The SQL is macros/contract_models.sql (contract_staging), fed by
-- the contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('wa_mastery_learning') }}
