-- No mart ever publishes a person count below its state's small-cell threshold: neither a count
-- measure's value nor the count behind a rate or ratio. Returns the offending cells (none = pass).
with

thresholds as (

    select * from {{ ref('int_suppression_thresholds') }}

),

person_count_measures as (

    select measure_id
    from {{ ref('dim_measure') }}
    where value_type = 'count' and suppression_rule = 'count'

),

published_counts as (

    select
        'fct_program_participation' as mart,
        state,
        measure_id,
        value as published_count
    from {{ ref('fct_program_participation') }}
    where measure_id in (select measure_id from person_count_measures)

    union all

    select
        'fct_program_participation' as mart,
        state,
        measure_id,
        count_behind as published_count
    from {{ ref('fct_program_participation') }}

    union all

    select
        'fct_district_outcomes' as mart,
        state,
        measure_id,
        value as published_count
    from {{ ref('fct_district_outcomes') }}
    where measure_id in (select measure_id from person_count_measures)

    union all

    select
        'fct_district_outcomes' as mart,
        state,
        measure_id,
        count_behind as published_count
    from {{ ref('fct_district_outcomes') }}

    {% for group in ['participating', 'non_participating'] %}
    union all

    select
        'cross_state_program_comparison' as mart,
        state,
        measure_id,
        {{ group }}_value as published_count
    from {{ ref('cross_state_program_comparison') }}
    where measure_id in (select measure_id from person_count_measures)

    union all

    select
        'cross_state_program_comparison' as mart,
        state,
        measure_id,
        {{ group }}_count as published_count
    from {{ ref('cross_state_program_comparison') }}
    {% endfor %}

)

select
    published_counts.mart,
    published_counts.state,
    published_counts.measure_id,
    published_counts.published_count,
    thresholds.threshold
from published_counts
inner join thresholds
    on published_counts.state = thresholds.state
where published_counts.published_count < thresholds.threshold
