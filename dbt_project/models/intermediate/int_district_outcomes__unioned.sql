{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['school_year'],
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_partitions_with_new_submissions(['school_year'], outcome_programs_filter()) }}"
    )
}}
-- Outcome measures from every outcome feed (the contracts of kind outcomes, listed in
-- macros/generated/contract_registry.sql) on one grain: state, district (null on the State Total
-- row), school year, measure. Where two feeds report the same cell, the feed with the lower
-- transform.outcome_priority wins (CDE's own file over the shared feed for CO).
-- A table, incremental by school year (see int_program_measures__unioned).
with

{% if is_incremental() %}
partitions_to_rebuild as (

    {{ partitions_with_new_submissions(['school_year'], outcome_programs_filter()) }}

),
{% endif %}

unioned as (

    {{ union_measures_models('outcomes') }}

),

sources as (

    select * from {{ ref('program_sources') }}

),

ranked as (

    select
        unioned.*,
        row_number() over (
            partition by unioned.state, unioned.district_id, unioned.row_kind, unioned.school_year, unioned.measure_id
            order by sources.outcome_priority asc nulls last, unioned.last_submission_id desc
        ) as source_rank
    from unioned
    left join sources
        on unioned.source = sources.source
    {% if is_incremental() %}
    where unioned.school_year in (select partitions_to_rebuild.school_year from partitions_to_rebuild)
    {% endif %}

)

select
    source,
    program_id,
    state,
    district_id,
    row_kind,
    school_year,
    measure_id,
    value,
    is_suppressed_at_source,
    source_marker,
    value_lower,
    value_upper,
    last_submission_id,
    loaded_at,
    {{ current_high_water_mark() }} as built_through_submission_id
from ranked
where source_rank = 1
