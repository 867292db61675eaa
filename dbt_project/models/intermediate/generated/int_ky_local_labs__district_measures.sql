-- Generated from programs/ky_local_labs.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Kentucky Local Laboratories of Learning (Backpack of Success Skills): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

    select * from {{ ref('stg_ky_local_labs__competency_defenses') }}
    where row_kind = 'district'

),

district_totals_per_grade as (

    select
        state,
        district_id,
        row_kind,
        school_year,
        grade,
        max(submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {{ agg_max('students_defended', alias='students_participating') }},
        {{ agg_max('students_eligible', alias='students_enrolled') }},
        {{ agg_sum('students_defended', alias='students_assessed') }},
        {{ agg_sum('students_proficient', alias='students_proficient') }}
    from source_rows
    group by state, district_id, row_kind, school_year, grade

),

district_totals as (

    select
        state,
        district_id,
        row_kind,
        school_year,
        max(last_submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {{ agg_sum('students_participating') }},
        {{ agg_sum('students_enrolled') }},
        {{ agg_sum('students_assessed') }},
        {{ agg_sum('students_proficient') }}
    from district_totals_per_grade
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'ky_local_labs', 'ky_local_labs', ['students_participating', 'students_enrolled', 'students_assessed', 'students_proficient']) }}

)

select * from unpivoted
