{#- Marts snapshots (plugins/innovation_pipeline/marts_snapshot.py): a build reads the landing zone
    as of one submission id, so a resubmission that commits mid-build reaches every mart or none.

    Staging reads the snapshot of the latest build (audit.marts_builds). The marts DAG pins it once
    per run in its prepare task and passes it to every Cosmos task as the variable
    `as_of_submission_id`, which each task checks at on-run-start; any other dbt invocation pins a
    new one there, keyed by its invocation id. -#}

{#- The submission id the current build reads up to. -#}
{% macro as_of_submission_id() -%}
    (
        select builds.as_of_submission_id
        from {{ source('audit', 'marts_builds') }} as builds
        order by builds.build_seq desc
        limit 1
    )
{%- endmacro %}

{#- on-run-start: a task of a pinned build checks that its snapshot is still the current one; any
    other invocation pins its own (waiting for loads in flight to commit). -#}
{% macro pin_marts_snapshot() %}
    {%- set pinned = var('as_of_submission_id', none) -%}
    {%- if pinned is none or pinned | string | trim == '' -%}
        select audit.take_marts_snapshot('dbt:{{ invocation_id }}', 'dbt {{ flags.WHICH }}')
    {%- else -%}
        {#- A value that is not an id (an XCom that did not render) fails here, naming it. -#}
        select audit.assert_marts_snapshot(cast('{{ pinned | string | replace("'", "") }}' as bigint))
    {%- endif -%}
{% endmacro %}

{#- A submission's status as it stood at the snapshot: one superseded later was still loaded. -#}
{% macro status_as_of() -%}
    case
        when status = 'superseded' and superseded_by > {{ as_of_submission_id() }} then 'loaded'
        else status
    end
{%- endmacro %}
