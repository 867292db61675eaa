{#-
    on-run-end: describe the warehouse's dbt schemas in the database itself (COMMENT ON SCHEMA),
    so \dn+ and a BI tool's schema browser say what each layer is. Tables and columns get their
    comments from persist_docs. A schema that does not exist yet, or that another role owns (only
    the owner may comment on it), is left alone rather than failing the run.
-#}
{% macro comment_on_schemas() -%}
    {%- set schemas = {
        'marts': 'Cross-state comparison marts for analysts: facts and dimensions after small-cell suppression, every table and column described (dbt docs: output/dbt_docs/index.html). Start with cross_state_program_comparison; suppression_reasons explains every suppression_reason code.',
        'seeds': 'Reference tables kept in the dbt project (dbt_project/seeds): programs, measures, suppression thresholds and reason codes.',
        'intermediate': "dbt intermediate views: each program's submissions as long district measures, before suppression. Not for analysis.",
        'staging': 'dbt staging views: current (not superseded) submissions, typed and renamed. Not for analysis.',
    } -%}
    do $comment_on_schemas$
    begin
    {%- for name, text in schemas.items() %}
        if exists (
            select 1 from pg_namespace
            where nspname = '{{ name }}' and pg_has_role(current_user, nspowner, 'MEMBER')
        ) then
            comment on schema {{ adapter.quote(name) }} is '{{ text | replace("'", "''") }}';
        end if;
    {%- endfor %}
    end
    $comment_on_schemas$
{%- endmacro %}
