{#- Aggregating suppressible fields from sub-rows (schools, grades, pathways, waivers) to a district.
    Every macro emits five columns: <name>, <name>__suppressed, <name>__marker, <name>__lower,
    <name>__upper. If any input arrived suppressed, the aggregate is unknown: value null, flagged
    suppressed at source, with the bounds the inputs' markers imply (values suppressed at source
    stay suppressed). -#}

{% macro agg_sum(field, alias=none) -%}
    {{ agg_bounded('sum', field, alias) }}
{%- endmacro %}

{% macro agg_max(field, alias=none) -%}
    {{ agg_bounded('max', field, alias) }}
{%- endmacro %}

{#- sum, max or min of a suppressible field: the bounds of a suppressed aggregate are the same
    aggregate over each row's bounds (a known value bounds itself). -#}
{% macro agg_bounded(fn, field, alias=none) -%}
    {%- set out = alias or field -%}
    case when bool_or({{ field }}__suppressed) then null else {{ fn }}({{ field }}) end as {{ out }},
    coalesce(bool_or({{ field }}__suppressed), false) as {{ out }}__suppressed,
    string_agg(distinct {{ field }}__marker, ', ') as {{ out }}__marker,
    case
        when bool_or({{ field }}__suppressed)
            then {{ fn }}(coalesce({{ field }}__lower, {{ field }}, 0))
    end as {{ out }}__lower,
    case
        when bool_or({{ field }}__suppressed)
            and bool_and(not {{ field }}__suppressed or {{ field }}__upper is not null)
            then {{ fn }}(coalesce({{ field }}__upper, {{ field }}))
    end as {{ out }}__upper
{%- endmacro %}

{#- A rate averaged over sub-rows, weighted by a count (e.g. school rates by enrollment). The mean
    of known rates lies between their smallest and largest value, which bound a suppressed one. -#}
{% macro agg_weighted_rate(rate, weight, alias=none, rate_suppressible=true, weight_suppressible=true) -%}
    {%- set out = alias or rate -%}
    {%- set rate_flag = rate ~ '__suppressed' if rate_suppressible else 'false' -%}
    {%- set weight_flag = weight ~ '__suppressed' if weight_suppressible else 'false' -%}
    {%- set suppressed = 'coalesce(bool_or(' ~ rate_flag ~ ' or ' ~ weight_flag ~ '), false)' -%}
    case
        when {{ suppressed }} then null
        else sum({{ rate }} * {{ weight }}) / nullif(sum({{ weight }}) filter (where {{ rate }} is not null), 0)
    end as {{ out }},
    {{ suppressed }} as {{ out }}__suppressed,
    {% if rate_suppressible -%}
    string_agg(distinct {{ rate }}__marker, ', ') as {{ out }}__marker,
    case when {{ suppressed }} then min(coalesce({{ rate }}__lower, {{ rate }}, 0)) end as {{ out }}__lower,
    case when {{ suppressed }} then max(coalesce({{ rate }}__upper, {{ rate }}, 1)) end as {{ out }}__upper
    {%- else -%}
    cast(null as text) as {{ out }}__marker,
    case when {{ suppressed }} then min(coalesce({{ rate }}, 0)) end as {{ out }}__lower,
    case when {{ suppressed }} then max(coalesce({{ rate }}, 1)) end as {{ out }}__upper
    {%- endif %}
{%- endmacro %}

{#- sum(numerator) / sum(denominator) over sub-rows (e.g. graduates over the cohort). Suppressed
    when either side has a suppressed row; the bounds take the smallest numerator over the largest
    denominator and the reverse, where the markers bound them. -#}
{% macro agg_ratio(numerator, denominator, alias, numerator_suppressible=true, denominator_suppressible=true) -%}
    {%- set n_flag = numerator ~ '__suppressed' if numerator_suppressible else 'false' -%}
    {%- set d_flag = denominator ~ '__suppressed' if denominator_suppressible else 'false' -%}
    {%- set suppressed = 'coalesce(bool_or(' ~ n_flag ~ ' or ' ~ d_flag ~ '), false)' -%}
    {%- set n_low = 'coalesce(' ~ numerator ~ '__lower, ' ~ numerator ~ ', 0)' if numerator_suppressible else numerator -%}
    {%- set n_high = 'coalesce(' ~ numerator ~ '__upper, ' ~ numerator ~ ')' if numerator_suppressible else numerator -%}
    {%- set d_low = 'coalesce(' ~ denominator ~ '__lower, ' ~ denominator ~ ', 0)' if denominator_suppressible else denominator -%}
    {%- set d_high = 'coalesce(' ~ denominator ~ '__upper, ' ~ denominator ~ ')' if denominator_suppressible else denominator -%}
    case
        when {{ suppressed }} then null
        else sum({{ numerator }}) / nullif(sum({{ denominator }}), 0)
    end as {{ alias }},
    {{ suppressed }} as {{ alias }}__suppressed,
    {% if numerator_suppressible -%}
    string_agg(distinct {{ numerator }}__marker, ', ')
    {%- else -%}
    cast(null as text)
    {%- endif %} as {{ alias }}__marker,
    case
        when {{ suppressed }} and bool_and({{ d_high }} is not null)
            then sum({{ n_low }}) / nullif(sum({{ d_high }}), 0)
    end as {{ alias }}__lower,
    case
        when {{ suppressed }} and bool_and({{ n_high }} is not null)
            then sum({{ n_high }}) / nullif(sum({{ d_low }}), 0)
    end as {{ alias }}__upper
{%- endmacro %}

{#- An aggregate of fields that are never suppressed at source (amounts, counts we compute). -#}
{% macro agg_plain(expression, alias) -%}
    {{ expression }} as {{ alias }},
    false as {{ alias }}__suppressed,
    cast(null as text) as {{ alias }}__marker,
    cast(null as numeric) as {{ alias }}__lower,
    cast(null as numeric) as {{ alias }}__upper
{%- endmacro %}

{#- One long row per measure from a CTE of aggregated columns (one set per measure id). Rows where
    the value is missing and was not suppressed carry no information and are left out. -#}
{% macro unpivot_measures(relation, source_name, program_id, measure_ids) -%}
    {%- for measure_id in measure_ids %}
    select
        '{{ source_name }}' as source,
        '{{ program_id }}' as program_id,
        state,
        district_id,
        row_kind,
        school_year,
        '{{ measure_id }}' as measure_id,
        cast({{ measure_id }} as numeric) as value,
        {{ measure_id }}__suppressed as is_suppressed_at_source,
        {{ measure_id }}__marker as source_marker,
        cast({{ measure_id }}__lower as numeric) as value_lower,
        cast({{ measure_id }}__upper as numeric) as value_upper,
        last_submission_id,
        loaded_at
    from {{ relation }}
    where {{ measure_id }} is not null or {{ measure_id }}__suppressed
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
