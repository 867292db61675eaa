{#- post-hook: refresh the planner's statistics of a table model (views have none). -#}
{% macro analyze_built_table() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
