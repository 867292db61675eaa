{#- No two rows share the same values in `combination` (nulls compare equal, so a state-total row
    with a null district_id still counts as one key). -#}
{% test unique_combination(model, combination) %}

    select
        {% for column in combination -%}
            {{ column }}{{ "," if not loop.last }}
        {% endfor -%},
        count(*) as occurrences
    from {{ model }}
    group by
        {% for column in combination -%}
            {{ column }}{{ "," if not loop.last }}
        {% endfor %}
    having count(*) > 1

{% endtest %}
