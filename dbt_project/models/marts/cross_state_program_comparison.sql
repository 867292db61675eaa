{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['school_year'],
        on_schema_change='fail',
        pre_hook="{{ delete_partitions_with_new_submissions(['school_year']) }}"
    )
}}
-- The headline mart: per state, program, school year and measure, the participating regular
-- districts' figure beside the non-participating regular districts' of the same state, each with the count behind it
-- and after small-cell suppression. Program measures (participants, funding, credits, proficiency,
-- participation rate) exist for participating districts only. Aggregates use true district values
-- and cover the districts that reported a value (districts_reporting); rates are re-weighted
-- (sum of numerators / sum of counts behind), never averaged.
-- Incremental by school year: a year's comparison reads only that year's program and outcome
-- cells, so a new submission (a program's or an outcome feed's) rebuilds its school year for
-- every program, and the years before are not rebuilt; a changed threshold rebuilds the years
-- of the state it touches.
-- The two district groups, side by side in this order: each publishes the same five columns.
{% set district_groups = ['participating', 'non_participating'] %}

with

definitions as (

    select * from {{ ref('measures') }}

),

thresholds as (

    select * from {{ ref('int_suppression_thresholds') }}

),

{% if is_incremental() %}
years_to_rebuild as (

    {{ partitions_to_rebuild(['school_year']) }}

),
{% endif %}

-- Regular school districts only: a charter, a BOCES or a state-run school is not compared with
-- districts (its figures stay in the fact marts, typed by dim_district.lea_type). Read from the
-- directory's table, not the staging view: the view's coalesce(lea_type, ...) filter has no
-- statistics, so the planner took the regular districts for a handful and joined the history's
-- cells in nested loops.
regular_districts as (

    select district_id from {{ ref('int_district_directory') }}
    where is_regular_district

),

program_cells as (

    select * from {{ ref('int_program_measures__unioned') }}
    where
        district_id in (select regular_districts.district_id from regular_districts)
        {% if is_incremental() %}
        and school_year in (select years_to_rebuild.school_year from years_to_rebuild)
        {% endif %}

),

outcome_cells as (

    select * from {{ ref('int_district_outcomes__unioned') }}
    where
        row_kind = 'district'
        and district_id in (select regular_districts.district_id from regular_districts)
        {% if is_incremental() %}
        and school_year in (select years_to_rebuild.school_year from years_to_rebuild)
        {% endif %}

),

program_years as (

    select distinct
        program_id,
        state,
        school_year
    from program_cells

),

participants as (

    select distinct
        program_id,
        district_id,
        school_year
    from program_cells

),

reporting_districts as (

    select distinct
        state,
        district_id,
        school_year
    from outcome_cells

),

outcome_districts as (

    select
        program_years.program_id,
        program_years.state,
        program_years.school_year,
        reporting.district_id,
        case
            when participants.district_id is not null then 'participating' else 'non_participating'
        end as district_group
    from program_years
    inner join reporting_districts as reporting
        on
            program_years.state = reporting.state
            and program_years.school_year = reporting.school_year
    left join participants
        on
            program_years.program_id = participants.program_id
            and reporting.district_id = participants.district_id
            and program_years.school_year = participants.school_year

),

district_cells as (

    select
        program_id,
        state,
        school_year,
        'participating' as district_group,
        district_id,
        measure_id,
        value,
        is_suppressed_at_source,
        last_submission_id,
        loaded_at
    from program_cells

    union all

    select
        outcome_districts.program_id,
        outcome_districts.state,
        outcome_districts.school_year,
        outcome_districts.district_group,
        outcome_districts.district_id,
        outcome_cells.measure_id,
        outcome_cells.value,
        outcome_cells.is_suppressed_at_source,
        outcome_cells.last_submission_id,
        outcome_cells.loaded_at
    from outcome_districts
    inner join outcome_cells
        on
            outcome_districts.district_id = outcome_cells.district_id
            and outcome_districts.school_year = outcome_cells.school_year

),

-- Per district, the numerator and count behind of every rate and ratio: a reported rate's
-- numerator is rate x count behind; a rate not reported is derived from its two counts.
-- A rate's count behind is the same district cell's denominator measure (part_keys: the cell
-- but its measure).
{% set part_keys = ['program_id', 'school_year', 'district_group', 'district_id'] %}
ratio_candidates as (

    select
        rates.program_id,
        rates.state,
        rates.school_year,
        rates.district_group,
        rates.district_id,
        rates.measure_id,
        rates.value * denominators.value as part_numerator,
        denominators.value as part_denominator,
        rates.is_suppressed_at_source or coalesce(denominators.is_suppressed_at_source, false) as part_suppressed,
        1 as preference
    from district_cells as rates
    inner join definitions
        on rates.measure_id = definitions.measure_id
    left join district_cells as denominators
        on
            definitions.denominator_measure_id = denominators.measure_id
            {% for key in part_keys %}
            and rates.{{ key }} = denominators.{{ key }}
            {% endfor %}
    where definitions.value_type in ('rate', 'ratio')

    union all

    select
        numerators.program_id,
        numerators.state,
        numerators.school_year,
        numerators.district_group,
        numerators.district_id,
        definitions.measure_id,
        numerators.value as part_numerator,
        denominators.value as part_denominator,
        numerators.is_suppressed_at_source or denominators.is_suppressed_at_source as part_suppressed,
        2 as preference
    from definitions
    inner join district_cells as numerators
        on definitions.numerator_measure_id = numerators.measure_id
    inner join district_cells as denominators
        on
            definitions.denominator_measure_id = denominators.measure_id
            {% for key in part_keys %}
            and numerators.{{ key }} = denominators.{{ key }}
            {% endfor %}
    where definitions.value_type in ('rate', 'ratio')

),

-- The reported rate where there is one, else the derived one. (A window rather than a NOT EXISTS:
-- the planner underestimates district_cells and would pick a nested-loop anti-join, quadratic in
-- the districts x years of history.)
ratio_ranked as (

    select
        ratio_candidates.*,
        row_number() over (
            partition by
                ratio_candidates.program_id,
                ratio_candidates.school_year,
                ratio_candidates.district_group,
                ratio_candidates.district_id,
                ratio_candidates.measure_id
            order by ratio_candidates.preference
        ) as preference_rank
    from ratio_candidates

),

ratio_parts as (

    select
        program_id,
        state,
        school_year,
        district_group,
        district_id,
        measure_id,
        part_numerator,
        part_denominator,
        part_suppressed
    from ratio_ranked
    where preference_rank = 1

),

group_totals as (

    select
        district_cells.program_id,
        district_cells.state,
        district_cells.school_year,
        district_cells.district_group,
        district_cells.measure_id,
        sum(district_cells.value) filter (where not district_cells.is_suppressed_at_source) as value,
        cast(null as numeric(24, 8)) as count_behind,
        cast(null as numeric(24, 8)) as numerator,
        count(district_cells.value) filter (where not district_cells.is_suppressed_at_source) as districts_reporting,
        bool_and(district_cells.is_suppressed_at_source) as is_suppressed_at_source,
        max(district_cells.last_submission_id) as last_submission_id,
        max(district_cells.loaded_at) as loaded_at
    from district_cells
    inner join definitions
        on district_cells.measure_id = definitions.measure_id
    where definitions.value_type in ('count', 'amount')
    group by
        district_cells.program_id,
        district_cells.state,
        district_cells.school_year,
        district_cells.district_group,
        district_cells.measure_id

),

group_ratios as (

    select
        ratio_parts.program_id,
        ratio_parts.state,
        ratio_parts.school_year,
        ratio_parts.district_group,
        ratio_parts.measure_id,
        sum(ratio_parts.part_numerator) filter (
            where ratio_parts.part_denominator > 0 and not ratio_parts.part_suppressed
        )
        / nullif(sum(ratio_parts.part_denominator) filter (
            where ratio_parts.part_numerator is not null and not ratio_parts.part_suppressed
        ), 0) as value,
        sum(ratio_parts.part_denominator) filter (
            where ratio_parts.part_numerator is not null and not ratio_parts.part_suppressed
        ) as count_behind,
        case
            when numerator_definitions.value_type = 'count'
                then round(
                    sum(ratio_parts.part_numerator) filter (
                        where ratio_parts.part_denominator > 0 and not ratio_parts.part_suppressed
                    )
                )
        end as numerator,
        count(*) filter (
            where
            ratio_parts.part_numerator is not null
            and ratio_parts.part_denominator > 0
            and not ratio_parts.part_suppressed
        ) as districts_reporting,
        bool_and(ratio_parts.part_suppressed) as is_suppressed_at_source,
        cast(null as bigint) as last_submission_id,
        cast(null as timestamptz) as loaded_at
    from ratio_parts
    inner join definitions
        on ratio_parts.measure_id = definitions.measure_id
    left join definitions as numerator_definitions
        on definitions.numerator_measure_id = numerator_definitions.measure_id
    group by
        ratio_parts.program_id,
        ratio_parts.state,
        ratio_parts.school_year,
        ratio_parts.district_group,
        ratio_parts.measure_id,
        numerator_definitions.value_type

),

group_cells as (

    select * from group_totals
    union all
    select * from group_ratios

),

cells as (

    {{ cells_with_definitions(
        'group_cells',
        ['program_id', 'state', 'school_year', 'district_group', 'measure_id', 'value', 'last_submission_id',
         'loaded_at', 'numerator'],
        [
            'group_cells.is_suppressed_at_source and group_cells.value is null as is_suppressed_at_source',
            'cast(null as text) as source_marker',
            'cast(null as numeric(24, 8)) as value_lower',
            'cast(null as numeric(24, 8)) as value_upper',
            "case when definitions.value_type = 'count' then group_cells.value else group_cells.count_behind end"
            ~ ' as count_behind',
        ]) }}
    where group_cells.value is not null or group_cells.is_suppressed_at_source

),

{{ small_cell_suppression(
    'cells',
    ['state', 'program_id', 'school_year', 'district_group'],
    ['state', 'program_id', 'school_year']) }},

published as (

    select
        cells__published.*,
        group_cells.districts_reporting
    from cells__published
    inner join group_cells
        on
            cells__published.program_id = group_cells.program_id
            and cells__published.school_year = group_cells.school_year
            and cells__published.district_group = group_cells.district_group
            and cells__published.measure_id = group_cells.measure_id

),

{% for group in district_groups %}
{{ group }} as (

    select * from published
    where district_group = '{{ group }}'

),

{% endfor %}
compared as (

    select
        coalesce(participating.state, non_participating.state) as state,
        coalesce(participating.program_id, non_participating.program_id) as program_id,
        coalesce(participating.school_year, non_participating.school_year) as school_year,
        coalesce(participating.measure_id, non_participating.measure_id) as measure_id,
        {% for group in district_groups %}
        {{ group }}.value as {{ group }}_value,
        {{ group }}.count_behind as {{ group }}_count,
        {{ group }}.districts_reporting as {{ group }}_districts_reporting,
        coalesce({{ group }}.is_suppressed, false) as {{ group }}_is_suppressed,
        {{ group }}.suppression_reason as {{ group }}_suppression_reason,
        {% endfor %}
        coalesce(participating.suppression_threshold, non_participating.suppression_threshold)
            as suppression_threshold
    from participating
    full outer join non_participating
        on
            participating.program_id = non_participating.program_id
            and participating.school_year = non_participating.school_year
            and participating.measure_id = non_participating.measure_id

)

select
    cast(compared.state as text) as state,
    cast(compared.program_id as text) as program_id,
    cast(compared.school_year as integer) as school_year,
    cast(compared.measure_id as text) as measure_id,
    cast(definitions.measure_group as text) as measure_group,
    cast(definitions.unit as text) as unit,
    {% for group in district_groups %}
    cast({{ published_number('compared.' ~ group ~ '_value', 'definitions.value_type') }} as numeric)
        as {{ group }}_value,
    cast(compared.{{ group }}_count as bigint) as {{ group }}_count,
    cast(compared.{{ group }}_districts_reporting as integer) as {{ group }}_districts_reporting,
    cast(compared.{{ group }}_is_suppressed as boolean) as {{ group }}_is_suppressed,
    cast(compared.{{ group }}_suppression_reason as text) as {{ group }}_suppression_reason,
    {% endfor %}
    -- the difference of the two published (rounded) values, so it agrees with them exactly
    cast(
        {{ published_number('compared.participating_value', 'definitions.value_type') }}
        - {{ published_number('compared.non_participating_value', 'definitions.value_type') }}
        as numeric
    ) as participating_minus_non_participating,
    cast(compared.suppression_threshold as integer) as suppression_threshold,
    cast({{ current_high_water_mark() }} as bigint) as built_through_submission_id
from compared
inner join definitions
    on compared.measure_id = definitions.measure_id
