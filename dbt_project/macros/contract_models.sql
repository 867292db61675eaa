{#- The SQL of the models generated from the contracts (innovation_pipeline.dbt_codegen). Each
    generated model file is one call of these macros with the contract's declarations, so the SQL
    is written once here and every source's model differs only by what its contract says. -#}

{#- A source's staging view: raw rows of current submissions, landing columns renamed, one typed
    column per contract field. The entry's ``fields``: [{name, type, suppressible}], type one of
    text, numeric, date, boolean, student_id (a student id is exposed only as its HMAC pseudonym,
    <name>_key). -#}
{% macro contract_staging(source_name) -%}
{%- set fields = contract_entry(source_name).fields -%}
with

source as (

    select * from {{ source('raw', source_name) }}

),

current_submissions as (

    {{ current_submission_ids(source_name) }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        {%- for field in fields %}
        {% if field.type == 'student_id' -%}
        -- pseudonym (HMAC) of the student identifier; never selected into a mart
        source.{{ field.name }}_key as {{ field.name }}_key
        {%- elif field.suppressible -%}
        {{ suppressible(field.name) }}
        {%- else -%}
        cast(source.{{ field.name }} as {{ field.type }}) as {{ field.name }}
        {%- endif %}{{ "," if not loop.last }}
        {%- endfor %}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
{%- endmacro %}

{#- One measure's five columns (value, __suppressed, __marker, __lower, __upper) from a rule:
    {measure, aggregate, field, column, suppressible, weight, weight_suppressible, numerator,
    numerator_suppressible, denominator, denominator_suppressible}. -#}
{% macro measure_aggregate(rule) -%}
    {%- if rule.aggregate == 'count' -%}
        {{ agg_plain('count(*)', rule.measure) }}
    {%- elif rule.aggregate == 'count_distinct' -%}
        {{ agg_plain('count(distinct ' ~ rule.column ~ ')', rule.measure) }}
    {%- elif rule.aggregate == 'weighted_mean' -%}
        {{ agg_weighted_rate(rule.field, rule.weight, alias=rule.measure,
                             rate_suppressible=rule.suppressible, weight_suppressible=rule.weight_suppressible) }}
    {%- elif rule.aggregate == 'ratio' -%}
        {{ agg_ratio(rule.numerator, rule.denominator, rule.measure,
                     numerator_suppressible=rule.numerator_suppressible,
                     denominator_suppressible=rule.denominator_suppressible) }}
    {%- elif rule.suppressible -%}
        {#- sum, max or min: the bounds travel with the aggregate -#}
        {{ agg_bounded(rule.aggregate, rule.field, alias=rule.measure) }}
    {%- else -%}
        {{ agg_plain(rule.aggregate ~ '(' ~ rule.field ~ ')', rule.measure) }}
    {%- endif -%}
{%- endmacro %}

{#- A source's cells on the conformed grain (district or State Total, school year, measure), one
    row per measure, true values before small-cell suppression. The entry's ``groups``: the
    contract's measure rules grouped by their first step and row filter, [{per: [columns],
    where: [sql], rules}]; a group with ``per`` aggregates within each group of those columns
    first, then sums to the district. ``rows``: 'district' (State Total rows do not feed
    measures) or 'all'. -#}
{% macro contract_district_measures(source_name) -%}
{%- set entry = contract_entry(source_name) -%}
{%- set staging_model, program_id, rows, groups = entry.staging_model, entry.program_id, entry.rows, entry.groups -%}
{%- set keys = ['state', 'district_id', 'row_kind', 'school_year'] -%}
with

source_rows as (

    select * from {{ ref(staging_model) }}
    {%- if rows == 'district' %}
    where row_kind = 'district'
    {%- endif %}

),
{%- for group in groups %}
{%- set name = 'measures_' ~ loop.index %}
{%- set first_step = name ~ '_per_' ~ (group.per | join('_')) if group.per else name %}

{{ first_step }} as (

    select
        {{ (keys + group.per) | join(',\n        ') }},
        max(submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {%- for rule in group.rules %}
        {{ measure_aggregate(rule) }}{{ "," if not loop.last }}
        {%- endfor %}
    from source_rows
    {%- if group.where %}
    where
        {{ group.where | join('\n        and ') }}
    {%- endif %}
    group by {{ (keys + group.per) | join(', ') }}

),
{%- if group.per %}

{{ name }} as (

    select
        {{ keys | join(',\n        ') }},
        max(last_submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {%- for rule in group.rules %}
        {{ agg_sum(rule.measure) }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ first_step }}
    group by {{ keys | join(', ') }}

),
{%- endif %}
{%- endfor %}

unpivoted as (
    {% for group in groups %}
    {{ unpivot_measures('measures_' ~ loop.index, source_name, program_id, group.rules | map(attribute='measure') | list) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select * from unpivoted
{%- endmacro %}
