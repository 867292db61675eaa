-- Kentucky reports per transition grade and competency. A student defends every competency, so
-- participants at a grade are the most-defended competency (not the sum); defenses (students
-- assessed) and proficient defenses are summed over grades and competencies.
with

defenses as (

    select * from {{ ref('stg_ky_local_labs__competency_defenses') }}
    where row_kind = 'district'

),

grade_totals as (

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
        {{ agg_sum('students_proficient') }}
    from defenses
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
    from grade_totals
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'ky_local_labs', 'ky_local_labs', [
        'students_participating', 'students_enrolled', 'students_assessed', 'students_proficient']) }}

)

select * from unpivoted
