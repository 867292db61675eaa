-- One row per measure, from seeds/measures.csv: definition, unit, direction and suppression rule.
select
    cast(measure_id as text) as measure_id,
    cast(measure_name as text) as measure_name,
    cast(measure_group as text) as measure_group,
    cast(value_type as text) as value_type,
    cast(unit as text) as unit,
    cast(higher_is_better as boolean) as higher_is_better,
    cast(suppression_rule as text) as suppression_rule,
    cast(numerator_measure_id as text) as numerator_measure_id,
    cast(denominator_measure_id as text) as denominator_measure_id,
    cast(definition as text) as definition
from {{ ref('measures') }}
