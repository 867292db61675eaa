{#- Questions about the sources, answered from the contracts (macros/generated/contract_registry.sql). -#}

{#- A filter on stg_audit__submissions for the submissions of outcome feeds. -#}
{% macro outcome_programs_filter() -%}
    {%- set programs = [] -%}
    {%- for entry in contract_registry() if entry.kind == 'outcomes' -%}
        {%- if entry.program_id not in programs %}{% do programs.append(entry.program_id) %}{% endif -%}
    {%- endfor -%}
    {%- if programs -%}
        program_id in ('{{ programs | join("', '") }}')
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- A source's entry of the registry: its models, fields and measure rules. (Kept apart from the
    macros that call it: sqlfluff's templater only returns values across macro files.) -#}
{% macro contract_entry(source_name) -%}
    {%- for entry in contract_registry() if entry.source == source_name %}{{ return(entry) }}{% endfor -%}
    {{ exceptions.raise_compiler_error('no contract for source ' ~ source_name) }}
{%- endmacro %}

{#- The union of every registered source's district-measures model of one kind (`program` or
    `outcomes`): the body of the intermediate union models. -#}
{% macro union_measures_models(kind) -%}
    {%- for entry in contract_registry() if entry.kind == kind and entry.measures_model %}
    select * from {{ ref(entry.measures_model) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
