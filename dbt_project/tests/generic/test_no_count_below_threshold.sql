{#- A published count (column_name) is never below its state's small-cell threshold. Zero-row
    result means pass. `state_column` names the row's state; `where_sql` narrows to rows whose
    column holds a person count (e.g. by measure suppression rule). -#}
{% test no_count_below_threshold(model, column_name, state_column='state', where_sql='true') %}

    select
        cells.{{ state_column }} as state,
        cells.{{ column_name }} as published_count,
        thresholds.threshold
    from {{ model }} as cells
    inner join {{ ref('int_suppression_thresholds') }} as thresholds
        on cells.{{ state_column }} = thresholds.state
    where
        cells.{{ column_name }} is not null
        and cells.{{ column_name }} < thresholds.threshold
        and ({{ where_sql }})

{% endtest %}
