-- Generated from programs/nd_innovative_education.yml by `innovation-pipeline contracts sync`:
-- edit the contract, not this file.
-- North Dakota Innovative Education waiver register (DPI): one waiver of a law or rule granted to
-- a district; current submissions only. The SQL is macros/contract_models.sql (contract_staging),
-- fed by the contract's fields in macros/generated/contract_registry.sql.
{{ contract_staging('nd_innovative_education') }}
