-- Colorado reports per school; a district's cell is the sum (counts, grant) or the
-- enrollment-weighted mean (rates) over its schools.
with

schools as (

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
        {{ agg_sum('students_participating') }},
        {{ agg_sum('students_participating', alias='students_assessed') }},
        {{ agg_sum('students_enrolled') }},
        {{ agg_plain('sum(grant_amount)', 'funding_amount') }},
        {{ agg_plain('count(distinct school_code)', 'schools_participating') }},
        {{ agg_weighted_rate('skills_attainment_rate', 'students_participating', alias='proficiency_rate') }},
        {{ agg_weighted_rate('culture_survey_favorable_rate', 'students_enrolled', rate_suppressible=false) }}
    from schools
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'co_local_accountability', 'co_local_accountability', [
        'students_participating', 'students_assessed', 'students_enrolled', 'funding_amount',
        'schools_participating', 'proficiency_rate', 'culture_survey_favorable_rate']) }}

)

select * from unpivoted
