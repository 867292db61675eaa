{#-
Small-cell suppression, applied to every published count and rate.

Input: a CTE `cells` with one row per cell and measure and these columns besides the keys:
  measure_id, value (the true value), is_suppressed_at_source, source_marker, value_lower,
  value_upper, value_type (count|amount|rate|ratio), suppression_rule (count|rate|per_person|none),
  numerator_measure_id, denominator_measure_id, count_behind (true denominator of a rate/ratio),
  numerator (true numerator count of a rate, when known), threshold (the state's threshold).

Rules, in order (the reason is published in suppression_reason):
  1. suppressed_at_source: the source sent a marker; it stays suppressed (with the marker's bounds).
  2. below_threshold: a person count (rule `count`) under the state's threshold; or a rate whose
     count behind is under it.
  3. complementary: within a group whose total is published (group_keys + measure), if exactly one
     count cell is suppressed, the smallest published count cell is suppressed too, so the hidden
     one cannot be recomputed as total minus the others.
  4. count_behind_suppressed / numerator_suppressed: a rate whose denominator or numerator count
     cell (same cell keys) is suppressed by 1-3, since rate x count would reveal it.
  5. small_numerator: a rate whose numerator, or denominator minus numerator, is under the
     threshold (e.g. 3 of 40 proficient, or 38 of 40).
  6. count_behind_unknown: a rate whose count behind is missing cannot be shown to be safe.
-#}
{% macro small_cell_suppression(cells, cell_keys, group_keys) -%}
{%- set cell_key_list = cell_keys | join(', ') -%}
{%- set group_key_list = group_keys | join(', ') -%}

{{ cells }}__primary as (

    select
        *,
        {{ primary_suppression_reason('value', 'threshold', 'is_suppressed_at_source', 'suppression_rule') }}
            as primary_reason
    from {{ cells }}
    where value_type in ('count', 'amount')

),

{{ cells }}__counts as (

    select
        *,
        coalesce(
            primary_reason,
            case
                when
                    suppression_rule = 'count'
                    and primary_reason is null
                    and count(*) filter (where primary_reason is not null)
                        over (partition by {{ group_key_list }}, measure_id) = 1
                    and row_number()
                        over (
                            partition by {{ group_key_list }}, measure_id, (primary_reason is null)
                            order by value, {{ cell_key_list }}
                        ) = 1
                    then 'complementary'
            end
        ) as suppression_reason
    from {{ cells }}__primary

),

{{ cells }}__rates as (

    select
        rates.*,
        {{ rate_suppression_reason(
            'rates.value', 'rates.threshold', 'rates.is_suppressed_at_source', 'rates.suppression_rule',
            'rates.count_behind', 'denominators.suppression_reason',
            'rates.numerator', 'numerators.suppression_reason') }} as suppression_reason
    from {{ cells }} as rates
    left join {{ cells }}__counts as denominators
        on
            rates.denominator_measure_id = denominators.measure_id
            and {{ cell_key('rates', cell_keys) }}
            = {{ cell_key('denominators', cell_keys) }}
    left join {{ cells }}__counts as numerators
        on
            rates.numerator_measure_id = numerators.measure_id
            and {{ cell_key('rates', cell_keys) }}
            = {{ cell_key('numerators', cell_keys) }}
    where rates.value_type in ('rate', 'ratio')

),

{{ cells }}__reasoned as (

    {% for part in ['counts', 'rates'] %}
    select
        {{ cell_key_list }},
        measure_id,
        value,
        value_type,
        suppression_rule,
        count_behind,
        suppression_reason,
        source_marker,
        value_lower,
        value_upper,
        threshold,
        last_submission_id,
        loaded_at
    from {{ cells }}__{{ part }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{{ cells }}__published as (

    select
        {{ cell_key_list }},
        measure_id,
        {{ publish_cell_columns() }},
        last_submission_id,
        loaded_at
    from {{ cells }}__reasoned

)
{%- endmacro %}

{#- Rule 1 and 2 for counts and amounts. -#}
{% macro primary_suppression_reason(value, threshold, is_suppressed_at_source, suppression_rule) -%}
    case
        when {{ is_suppressed_at_source }} then 'suppressed_at_source'
        when {{ suppression_rule }} = 'count' and {{ value }} < {{ threshold }} then 'below_threshold'
    end
{%- endmacro %}

{#- Rules 1, 2, 4, 5 and 6 for rates and ratios. -#}
{% macro rate_suppression_reason(value, threshold, is_suppressed_at_source, suppression_rule,
                                 count_behind, count_behind_reason, numerator, numerator_reason) -%}
    case
        when {{ is_suppressed_at_source }} then 'suppressed_at_source'
        when {{ value }} is null then null
        when {{ suppression_rule }} = 'none' then null
        when {{ count_behind_reason }} is not null then 'count_behind_suppressed'
        when {{ count_behind }} is null then 'count_behind_unknown'
        when {{ count_behind }} < {{ threshold }} then 'below_threshold'
        when {{ suppression_rule }} = 'rate' and {{ numerator_reason }} is not null then 'numerator_suppressed'
        when
            {{ suppression_rule }} = 'rate'
            and {{ numerator }} is not null
            and ({{ numerator }} < {{ threshold }} or {{ count_behind }} - {{ numerator }} < {{ threshold }})
            then 'small_numerator'
    end
{%- endmacro %}

{#- The published columns of a reasoned cell: values of suppressed cells become null; bounds are
    shown only where they reveal nothing new (a source's own marker, or 0..threshold-1). -#}
{% macro publish_cell_columns() -%}
        case when suppression_reason is null then value end as value,
        case
            when suppression_reason is not null then null
            when value_type = 'count' and suppression_rule = 'count' then value
            -- a rate with no value (a zero or missing denominator) shows no count behind either:
            -- that count may be one the mart suppresses in its own cell
            when value_type in ('rate', 'ratio') and value is not null then count_behind
        end as count_behind,
        suppression_reason is not null as is_suppressed,
        suppression_reason,
        source_marker,
        case
            when suppression_reason = 'suppressed_at_source' then value_lower
            when suppression_reason = 'below_threshold' and value_type = 'count' then 0
        end as value_lower,
        case
            when suppression_reason = 'suppressed_at_source' then value_upper
            when suppression_reason = 'below_threshold' and value_type = 'count' then threshold - 1
        end as value_upper,
        value_type,
        threshold as suppression_threshold
{%- endmacro %}

{#- Adds rate and ratio rows to a CTE of reported district cells (`base`): reported rates get their
    count behind and numerator from the cells named in seeds/measures.csv; rates the source does not
    report are derived as numerator / denominator. Output columns match small_cell_suppression's
    input. -#}
{% macro with_ratio_cells(base, cell_keys, definitions) -%}

{{ base }}__reported as (

    select
        {{ base }}.*,
        case
            when {{ base }}.value_type = 'count' then {{ base }}.value
            when {{ base }}.value_type in ('rate', 'ratio') then denominators.value
        end as count_behind,
        case when {{ base }}.value_type in ('rate', 'ratio') then numerators.value end as numerator
    from {{ base }}
    left join {{ base }} as denominators
        on
            {{ base }}.denominator_measure_id = denominators.measure_id
            and {{ cell_key(base, cell_keys) }}
            = {{ cell_key('denominators', cell_keys) }}
    left join {{ base }} as numerators
        on
            {{ base }}.numerator_measure_id = numerators.measure_id
            and {{ cell_key(base, cell_keys) }}
            = {{ cell_key('numerators', cell_keys) }}

),

{{ base }}__derived as (

    select
        {% for key in cell_keys %}
        numerators.{{ key }},
        {% endfor %}
        definitions.measure_id,
        case
            when not (numerators.is_suppressed_at_source or denominators.is_suppressed_at_source)
                then numerators.value / nullif(denominators.value, 0)
        end as value,
        numerators.is_suppressed_at_source or denominators.is_suppressed_at_source as is_suppressed_at_source,
        cast(null as text) as source_marker,
        cast(null as numeric) as value_lower,
        cast(null as numeric) as value_upper,
        definitions.value_type,
        definitions.suppression_rule,
        definitions.numerator_measure_id,
        definitions.denominator_measure_id,
        numerators.threshold,
        greatest(numerators.last_submission_id, denominators.last_submission_id) as last_submission_id,
        greatest(numerators.loaded_at, denominators.loaded_at) as loaded_at,
        denominators.value as count_behind,
        case when numerators.value_type = 'count' then numerators.value end as numerator
    from {{ definitions }} as definitions
    inner join {{ base }} as numerators
        on definitions.numerator_measure_id = numerators.measure_id
    inner join {{ base }} as denominators
        on
            definitions.denominator_measure_id = denominators.measure_id
            and {{ cell_key('numerators', cell_keys) }}
            = {{ cell_key('denominators', cell_keys) }}
    where
        definitions.value_type in ('rate', 'ratio')
        and not exists (
            select 1
            from {{ base }} as reported
            where
                reported.measure_id = definitions.measure_id
                and {{ cell_key('reported', cell_keys) }}
                = {{ cell_key('numerators', cell_keys) }}
        )

),

{#- The columns of a reported or a derived cell, in one list for both halves of the union. -#}
{%- set ratio_cell_columns = [
    'measure_id', 'value', 'is_suppressed_at_source', 'source_marker', 'value_lower', 'value_upper',
    'value_type', 'suppression_rule', 'numerator_measure_id', 'denominator_measure_id', 'threshold',
    'last_submission_id', 'loaded_at', 'count_behind', 'numerator'
] %}

{{ base }}__with_ratios as (

    select
        {% for column in cell_keys + ratio_cell_columns %}
        {{ column }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ base }}__reported
    union all
    select
        {% for column in cell_keys + ratio_cell_columns %}
        {{ column }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ base }}__derived

)
{%- endmacro %}

{#- One text key for a cell, so that cells join on a single hashable equality even when a key
    column is null (a State Total has no district): `is not distinct from` on several columns
    forces nested loops. -#}
{% macro cell_key(alias, keys) -%}
    concat_ws('|', {% for key in keys -%}
        coalesce(cast({{ alias }}.{{ key }} as text), '~'){{ ", " if not loop.last }}
    {%- endfor %})
{%- endmacro %}


{#- The small-cell threshold of a state: its own (int_suppression_thresholds), else the project's
    default. The one place the default applies. -#}
{% macro threshold_or_default(threshold) -%}
    coalesce({{ threshold }}, {{ var('suppression_threshold_default') | int }})
{%- endmacro %}


{#- The body of a CTE: each row of `cells` beside its measure's definition (seeds/measures.csv:
    value type, suppression rule, numerator and denominator) and its state's small-cell threshold,
    the columns small_cell_suppression and with_ratio_cells read besides the cell's own. The one
    place a cell meets its definition and threshold, for the facts (district cells) and the
    comparison (group cells) alike. `columns`: the cell's own columns, by name; `expressions`:
    further select expressions, as written (they may read `definitions`). -#}
{% macro cells_with_definitions(cells, columns, expressions=[], definitions='definitions', thresholds='thresholds') -%}
    select
        {%- for column in columns %}
        {{ cells }}.{{ column }},
        {%- endfor %}
        {%- for expression in expressions %}
        {{ expression }},
        {%- endfor %}
        {{ definitions }}.value_type,
        {{ definitions }}.suppression_rule,
        {{ definitions }}.numerator_measure_id,
        {{ definitions }}.denominator_measure_id,
        {{ threshold_or_default(thresholds ~ '.threshold') }} as threshold
    from {{ cells }}
    inner join {{ definitions }}
        on {{ cells }}.measure_id = {{ definitions }}.measure_id
    left join {{ thresholds }}
        on {{ cells }}.state = {{ thresholds }}.state
{%- endmacro %}

{#- The columns of a reported district cell (int_program_measures__unioned and
    int_district_outcomes__unioned) besides its keys, as the facts pass them to
    cells_with_definitions. -#}
{% macro district_cell_columns() -%}
    {{ return([
        'measure_id', 'value', 'is_suppressed_at_source', 'source_marker', 'value_lower', 'value_upper',
        'last_submission_id', 'loaded_at'
    ]) }}
{%- endmacro %}
