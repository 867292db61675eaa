-- Generated from programs/state_outcomes.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- State outcome feeds (all districts): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

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
        {{ agg_sum('enrollment', alias='enrollment') }},
        {{ agg_sum('chronic_absent_count', alias='chronic_absent_count') }},
        {{ agg_max('chronic_absenteeism_rate', alias='chronic_absenteeism_rate') }},
        {{ agg_max('graduation_rate_4yr', alias='graduation_rate_4yr') }},
        {{ agg_max('college_enrollment_rate', alias='college_enrollment_rate') }},
        {{ agg_max('discipline_rate', alias='discipline_rate') }},
        {{ agg_max('teacher_retention_rate', alias='teacher_retention_rate') }},
        {{ agg_max('student_engagement_rate', alias='student_engagement_rate') }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'state_outcomes', 'state_outcomes', ['enrollment', 'chronic_absent_count', 'chronic_absenteeism_rate', 'graduation_rate_4yr', 'college_enrollment_rate', 'discipline_rate', 'teacher_retention_rate', 'student_engagement_rate']) }}

)

select * from unpivoted
