{#- Schemas are exactly staging, intermediate, marts and seeds: a folder's +schema is used as is,
    not prefixed with the target schema, so analysts and the DQ suite find stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
