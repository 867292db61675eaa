-- Shared outcome measures per district, plus each file's State Total row kept as reported.
with

outcomes as (

    select * from {{ ref('stg_state_outcomes__district_outcomes') }}

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
        {{ agg_max('chronic_absenteeism_rate') }},
        {{ agg_max('graduation_rate_4yr') }},
        {{ agg_max('college_enrollment_rate') }},
        {{ agg_max('discipline_rate') }},
        {{ agg_max('teacher_retention_rate') }},
        {{ agg_max('student_engagement_rate') }}
    from outcomes
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'state_outcomes', 'state_outcomes', [
        'enrollment', 'chronic_absent_count', 'chronic_absenteeism_rate', 'graduation_rate_4yr',
        'college_enrollment_rate', 'discipline_rate', 'teacher_retention_rate', 'student_engagement_rate']) }}

)

select * from unpivoted
