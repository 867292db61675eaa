-- Generated from programs/co_chronic_absenteeism.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Colorado chronic absenteeism by district (CDE): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

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
        {{ agg_sum('enrollment', alias='enrollment') }},
        {{ agg_sum('chronic_absent_count', alias='chronic_absent_count') }},
        {{ agg_max('chronic_absenteeism_rate', alias='chronic_absenteeism_rate') }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'co_chronic_absenteeism', 'state_outcomes', ['enrollment', 'chronic_absent_count', 'chronic_absenteeism_rate']) }}

)

select * from unpivoted
