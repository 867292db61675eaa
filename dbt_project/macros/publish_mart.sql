{#
    Post-hook for marts: access.publish_mart() grants the table to analysts and enables the
    state row-level security policy (plugins/innovation_pipeline/sql/access.sql). Where the roles
    have not been set up (a bare dbt run), nothing is granted, so nobody but the owner can read.
#}
{% macro publish_mart() %}
    {%- if execute -%}
        {%- set found = run_query(
            "select to_regprocedure('access.publish_mart(regclass)') is not null"
        ).columns[0].values()[0] -%}
        {%- if found -%}
            select access.publish_mart('{{ this }}'::regclass)
        {%- else -%}
            select 1
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
