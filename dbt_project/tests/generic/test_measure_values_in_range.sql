{#- Values of measures of one value_type (seeds/measures.csv) lie in [min_value, max_value]: rates
    in a long model (one row per measure) are fractions 0..1. -#}
{% test measure_values_in_range(model, column_name, value_type='rate', min_value=0, max_value=1,
                                measure_column='measure_id') %}

    select
        cells.{{ measure_column }} as measure_id,
        cells.{{ column_name }} as out_of_range_value
    from {{ model }} as cells
    inner join {{ ref('measures') }} as measures
        on cells.{{ measure_column }} = measures.measure_id
    where
        measures.value_type = '{{ value_type }}'
        and cells.{{ column_name }} is not null
        and (cells.{{ column_name }} < {{ min_value }} or cells.{{ column_name }} > {{ max_value }})

{% endtest %}
