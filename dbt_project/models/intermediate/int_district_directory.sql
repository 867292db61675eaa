{{ config(materialized='table') }}
-- The reference directory's districts with their LEA type, as a table. The fact marts and the
-- comparison read district attributes from here rather than from dim_district: dim_district also
-- lists the names every submission used, so reading it made every new program submission
-- rebuild the outcome mart, which no program submission can change. A table, not a view, so
-- the planner has statistics for the regular-district filter (cross_state_program_comparison).
with

districts as (

    select * from {{ ref('stg_ref__districts') }}

)

select
    districts.*,
    districts.lea_type = 'regular' as is_regular_district
from districts
