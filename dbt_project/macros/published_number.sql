{#-
    A published value in the scale an analyst expects for its measure's value_type: counts as whole
    numbers (56223, not 56223.00000000), amounts (USD, credits, hours) to the cent, rates (fractions
    0..1) and ratios (per participant) to four decimals. The column stays one `numeric` because a
    long-format mart holds every kind of measure in it; the scale travels with each value.
-#}
{% macro published_number(column, value_type) -%}
    round(
        {{ column }},
        case {{ value_type }} when 'count' then 0 when 'amount' then 2 else 4 end
    )
{%- endmacro %}
