{#- Staging helpers: which submissions are current, and the columns raw lands for each field. -#}

{#- Submission ids whose rows are current as of the build's snapshot (snapshot.sql): loaded then,
    superseded only by a later submission if at all, and, defensively, only the latest such one per
    (source, submitter, school year) should two ever be loaded at once. -#}
{% macro current_submission_ids(source_name) -%}
    select submission_id, file_sha256
    from (
        select
            submission_id,
            file_sha256,
            row_number() over (
                partition by source, submitter, school_year
                order by received_at desc, submission_id desc
            ) as recency
        from {{ source('audit', 'submissions') }}
        where
            source = '{{ source_name }}'
            and submission_id <= {{ as_of_submission_id() }}
            and {{ status_as_of() }} = 'loaded'
    ) as loaded
    where recency = 1
{%- endmacro %}

{#- The landing columns every raw table has, renamed for staging. The file's SHA-256 comes from its
    submission (current_submission_ids), not from each row: a raw row carries only its submission id. -#}
{% macro landing_columns(alias='source') -%}
        -- ids
        {{ alias }}._submission_id as submission_id,
        {{ alias }}.district_id,
        {{ alias }}.state,
        cast({{ alias }}.school_year as integer) as school_year,
        {{ alias }}.row_kind,
        {{ alias }}.district_source_value,
        -- lineage
        current_submissions.file_sha256,
        {{ alias }}._sheet as sheet_name,
        {{ alias }}._source_row as source_row,
        {{ alias }}._loaded_at as loaded_at
{%- endmacro %}

{#- A suppressible field: its value plus the marker columns, cast to one type. -#}
{% macro suppressible(field, data_type='numeric', alias='source') -%}
        cast({{ alias }}.{{ field }} as {{ data_type }}) as {{ field }},
        coalesce({{ alias }}.{{ field }}__suppressed, false) as {{ field }}__suppressed,
        {{ alias }}.{{ field }}__marker,
        cast({{ alias }}.{{ field }}__lower as numeric) as {{ field }}__lower,
        cast({{ alias }}.{{ field }}__upper as numeric) as {{ field }}__upper
{%- endmacro %}
