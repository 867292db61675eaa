-- Utah reports per pathway; a district's cell sums its pathways.
with

pathways as (

    select * from {{ ref('stg_ut_pcbl_grants__pathways') }}
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
        {{ agg_sum('students_served', alias='students_participating') }},
        {{ agg_sum('pathway_enrollments') }},
        {{ agg_sum('teachers_microcredentialed', alias='educators_participating') }},
        {{ agg_plain('sum(grant_amount)', 'funding_amount') }}
    from pathways
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'ut_pcbl_grants', 'ut_pcbl_grants', [
        'students_participating', 'pathway_enrollments', 'educators_participating', 'funding_amount']) }}

)

select * from unpivoted
