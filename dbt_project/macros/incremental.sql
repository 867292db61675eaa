{#- Incremental partitions. A model rebuilds whole partitions (e.g. program x school year) with
    delete+insert; a partition is due when a submission newer than the table's high-water mark
    (built_through_submission_id) arrived for it. -#}

{#- The highest submission id known now: stored on every rebuilt row as the high-water mark. -#}
{% macro current_high_water_mark() -%}
    (select max(submissions.submission_id) from {{ ref('stg_audit__submissions') }} as submissions)
{%- endmacro %}

{#- (partition columns) of submissions newer than the table's high-water mark. -#}
{% macro partitions_with_new_submissions(partition_columns, submissions_filter='true') -%}
    select distinct
        {{ partition_columns | join(', ') }}
    from {{ ref('stg_audit__submissions') }}
    where
        ({{ submissions_filter }})
        and submission_id > (
            select coalesce(max(built.built_through_submission_id), 0) from {{ this }} as built
        )
{%- endmacro %}

{#- pre_hook: delete the partitions about to be rebuilt, so that a partition whose rows all went
    away (its only submission superseded by one that loaded no rows) does not keep stale rows:
    delete+insert alone only replaces partitions present in the new batch. -#}
{% macro delete_partitions_with_new_submissions(partition_columns, submissions_filter='true') -%}
    {% if is_incremental() %}
        delete from {{ this }}
        where ({{ partition_columns | join(', ') }}) in (
            {{ partitions_with_new_submissions(partition_columns, submissions_filter) }}
        )
    {% endif %}
{%- endmacro %}

{#- (partition columns) a model must rebuild: those with new submissions, and those built under a
    state threshold that has changed since (``thresholds`` is the model's CTE of
    int_suppression_thresholds; the model's rows carry state and suppression_threshold). -#}
{% macro partitions_to_rebuild(partition_columns, submissions_filter='true') -%}
    {{ partitions_with_new_submissions(partition_columns, submissions_filter) }}

    union

    select
        {% for column in partition_columns -%}
        built.{{ column }}{{ "," if not loop.last }}
        {% endfor -%}
    from {{ this }} as built
    inner join thresholds
        on built.state = thresholds.state
    where built.suppression_threshold <> thresholds.threshold
{%- endmacro %}
