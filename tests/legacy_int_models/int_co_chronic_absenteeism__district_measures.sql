-- CDE's chronic absenteeism workbook, per district plus the State Total kept as reported (it is
-- not the sum of the district rows: students move between districts).
with

absenteeism as (

    select * from {{ ref('stg_co_chronic_absenteeism__district_absenteeism') }}

),

district_totals as (

    select
        state,
        district_id,
        row_kind,
        school_year,
        max(submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {{ agg_sum('enrollment') }},
        {{ agg_sum('chronic_absent_count') }},
        {{ agg_max('chronic_absenteeism_rate') }}
    from absenteeism
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'co_chronic_absenteeism', 'state_outcomes', [
        'enrollment', 'chronic_absent_count', 'chronic_absenteeism_rate']) }}

)

select * from unpivoted
