-- Generated from programs/ut_pcbl_grants.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- Utah PCBL grant reports: one pathway (CTE, STEM, IB, AP, PCBL) of a grantee district; current
-- submissions only. The SQL is macros/contract_models.sql (contract_staging), fed by the
-- contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('ut_pcbl_grants') }}
