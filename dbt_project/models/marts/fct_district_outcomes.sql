{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['school_year'],
        on_schema_change='fail',
        pre_hook="{{ delete_partitions_with_new_submissions(['school_year'], \"program_id = 'state_outcomes'\") }}"
    )
}}
-- Shared outcome measures per district and school year, plus each state's State Total row kept
-- as reported (is_state_total), after small-cell suppression. Incremental by school year: a new
-- outcome submission rebuilds its year only; a changed threshold rebuilds the years it touches.
{% set cell_keys = ['state', 'district_id', 'is_state_total', 'school_year'] %}

with

thresholds as (

    select * from {{ ref('int_suppression_thresholds') }}

),

{% if is_incremental() %}
partitions_to_rebuild as (

    {{ partitions_to_rebuild(['school_year'], "program_id = 'state_outcomes'") }}

),
{% endif %}

outcomes_long as (

    select * from {{ ref('int_district_outcomes__unioned') }}
    {% if is_incremental() %}
    where school_year in (select partitions_to_rebuild.school_year from partitions_to_rebuild)
    {% endif %}

),

definitions as (

    select * from {{ ref('measures') }}

),

base as (

    {{ cells_with_definitions(
        'outcomes_long',
        ['state', 'district_id', 'school_year', 'source'] + district_cell_columns(),
        ["outcomes_long.row_kind = 'state_total' as is_state_total"]) }}

),

{{ with_ratio_cells('base', cell_keys, 'definitions') }},

{{ small_cell_suppression(
    'base__with_ratios',
    cell_keys,
    ['state', 'is_state_total', 'school_year']) }}

select
    cast(published.state as text) as state,
    cast(published.district_id as text) as district_id,
    cast(published.is_state_total as boolean) as is_state_total,
    cast(published.school_year as integer) as school_year,
    cast(published.measure_id as text) as measure_id,
    cast(coalesce(base.source, 'derived') as text) as source,
    cast({{ published_number('published.value', 'published.value_type') }} as numeric) as value,
    cast(published.count_behind as bigint) as count_behind,
    cast(published.is_suppressed as boolean) as is_suppressed,
    cast(published.suppression_reason as text) as suppression_reason,
    cast(published.source_marker as text) as source_marker,
    cast({{ published_number('published.value_lower', 'published.value_type') }} as numeric) as value_lower,
    cast({{ published_number('published.value_upper', 'published.value_type') }} as numeric) as value_upper,
    cast(published.suppression_threshold as integer) as suppression_threshold,
    cast(published.last_submission_id as bigint) as last_submission_id,
    cast(published.loaded_at as timestamptz) as loaded_at,
    cast({{ current_high_water_mark() }} as bigint) as built_through_submission_id,
    -- Charters, BOCES and state-run LEAs keep their figures here, typed; null on a State Total row.
    cast(districts.lea_type as text) as lea_type
from base__with_ratios__published as published
left join {{ ref('int_district_directory') }} as districts
    on published.district_id = districts.district_id
-- One hashable cell key (a State Total's district is null): `is not distinct from` on the
-- district made this join compare every district of a state, year and measure with every other.
left join base
    on
        published.measure_id = base.measure_id
        and {{ cell_key('published', cell_keys) }} = {{ cell_key('base', cell_keys) }}
