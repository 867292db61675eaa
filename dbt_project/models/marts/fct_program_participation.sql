{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['program_id', 'school_year'],
        on_schema_change='fail',
        pre_hook="{{ delete_partitions_with_new_submissions(['program_id', 'school_year']) }}"
    )
}}
-- Per program, district, school year and measure, after small-cell suppression.
-- Incremental by (program, school year) partition: a new submission rebuilds only its program's
-- year (complementary suppression needs the whole partition), so history is not rebuilt. A
-- superseded submission's rows leave with the rebuild, as staging only reads current submissions.
-- A partition is also rebuilt when its state's threshold changed (seed or --vars).
{% set cell_keys = ['program_id', 'state', 'district_id', 'school_year'] %}

with

thresholds as (

    select * from {{ ref('int_suppression_thresholds') }}

),

{% if is_incremental() %}
partitions_to_rebuild as (

    {{ partitions_to_rebuild(['program_id', 'school_year']) }}

),
{% endif %}

measures_long as (

    select * from {{ ref('int_program_measures__unioned') }}
    {% if is_incremental() %}
    where (program_id, school_year) in (
        select
            partitions_to_rebuild.program_id,
            partitions_to_rebuild.school_year
        from partitions_to_rebuild
    )
    {% endif %}

),

definitions as (

    select * from {{ ref('measures') }}

),

base as (

    {{ cells_with_definitions('measures_long', cell_keys + district_cell_columns()) }}

),

{{ with_ratio_cells('base', cell_keys, 'definitions') }},

{{ small_cell_suppression(
    'base__with_ratios',
    cell_keys,
    ['program_id', 'state', 'school_year']) }}

select
    cast(published.program_id as text) as program_id,
    cast(published.state as text) as state,
    cast(published.district_id as text) as district_id,
    cast(published.school_year as integer) as school_year,
    cast(published.measure_id as text) as measure_id,
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
    -- Charters, BOCES and state-run LEAs keep their figures here, typed, never mixed silently.
    cast(districts.lea_type as text) as lea_type
from base__with_ratios__published as published
left join {{ ref('int_district_directory') }} as districts
    on published.district_id = districts.district_id
