-- The small-cell threshold for every state: a --vars override, else seeds/suppression_thresholds.csv,
-- else var('suppression_threshold_default').
{%- set overrides = var('suppression_threshold_overrides', {}) %}
with

seeded as (

    select
        state,
        cast(threshold as integer) as threshold
    from {{ ref('suppression_thresholds') }}

),

overrides as (

    {% if overrides is mapping and overrides %}
    select
        state,
        threshold
    from (
        values
        {% for state, threshold in overrides.items() -%}
            ('{{ state }}', {{ threshold | int }}){{ "," if not loop.last }}
        {% endfor %}
    ) as override_values (state, threshold)
    {% else %}
    select
        cast(null as text) as state,
        cast(null as integer) as threshold
    where false
    {% endif %}

),

states as (

    select state from seeded
    union
    select distinct state from {{ ref('stg_ref__districts') }}

),

resolved as (

    select
        states.state,
        cast(
            {{ threshold_or_default('coalesce(overrides.threshold, seeded.threshold)') }} as integer
        ) as threshold,
        case
            when overrides.threshold is not null then 'vars override'
            when seeded.threshold is not null then 'seed'
            else 'default'
        end as threshold_source
    from states
    left join seeded on states.state = seeded.state
    left join overrides on states.state = overrides.state

)

select * from resolved
