-- Generated from programs/co_local_accountability.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Colorado Local Accountability Systems grants (school measures): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

    select * from {{ ref('stg_co_local_accountability__school_measures') }}
    where row_kind = 'district'

),

district_totals as (

    select
        state,
        district_id,
        row_kind,
        school_year,
        max(submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {{ agg_sum('students_participating', alias='students_participating') }},
        {{ agg_sum('students_participating', alias='students_assessed') }},
        {{ agg_sum('students_enrolled', alias='students_enrolled') }},
        {{ agg_plain('sum(grant_amount)', 'funding_amount') }},
        {{ agg_plain('count(distinct school_code)', 'schools_participating') }},
        {{ agg_weighted_rate('skills_attainment_rate', 'students_participating', alias='proficiency_rate', rate_suppressible=true, weight_suppressible=true) }},
        {{ agg_weighted_rate('culture_survey_favorable_rate', 'students_enrolled', alias='culture_survey_favorable_rate', rate_suppressible=false, weight_suppressible=true) }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'co_local_accountability', 'co_local_accountability', ['students_participating', 'students_assessed', 'students_enrolled', 'funding_amount', 'schools_participating', 'proficiency_rate', 'culture_survey_favorable_rate']) }}

)

select * from unpivoted
