{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['program_id', 'school_year'],
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_partitions_with_new_submissions(['program_id', 'school_year']) }}"
    )
}}
-- Every program source's cells (one model per contract, from macros/generated/contract_registry.sql)
-- on one grain: program, district, school year, measure (long format).
-- Values here are as received (true values, before small-cell suppression): this schema is for
-- engineers, not analysts. A table (the marts join it several times; views of views of aggregates
-- leave the planner blind), incremental by (program, school year): a new submission rebuilds its
-- program's year only; superseded rows leave with the rebuild, as staging reads current
-- submissions only.
with

{% if is_incremental() %}
partitions_to_rebuild as (

    {{ partitions_with_new_submissions(['program_id', 'school_year']) }}

),
{% endif %}

unioned as (

    {{ union_measures_models('program') }}

)

select
    unioned.*,
    {{ current_high_water_mark() }} as built_through_submission_id
from unioned
where
    unioned.district_id is not null
    {% if is_incremental() %}
    and (unioned.program_id, unioned.school_year) in (
        select
            partitions_to_rebuild.program_id,
            partitions_to_rebuild.school_year
        from partitions_to_rebuild
    )
    {% endif %}
