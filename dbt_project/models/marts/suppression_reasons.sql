-- Every suppression_reason code the marts publish, in plain words (seeds/suppression_reason_codes.csv),
-- so an analyst can join a suppressed cell to why it is withheld.
select
    cast(suppression_reason as text) as suppression_reason,
    cast(rule_order as integer) as rule_order,
    cast(reason_name as text) as reason_name,
    cast(applies_to as text) as applies_to,
    cast(explanation as text) as explanation,
    cast(bounds_published as text) as bounds_published
from {{ ref('suppression_reason_codes') }}
