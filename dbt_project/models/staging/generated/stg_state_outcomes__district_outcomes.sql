-- Generated from programs/state_outcomes.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- State outcome feeds (all districts): one district's shared outcomes in one school year; current submissions only.
with

source as (

    select * from {{ source('raw', 'state_outcomes') }}

),

current_submissions as (

    {{ current_submission_ids('state_outcomes') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.district_name as text) as district_name,
        {{ suppressible('enrollment') }},
        {{ suppressible('chronic_absent_count') }},
        {{ suppressible('chronic_absenteeism_rate') }},
        {{ suppressible('graduation_rate_4yr') }},
        {{ suppressible('college_enrollment_rate') }},
        {{ suppressible('discipline_rate') }},
        {{ suppressible('teacher_retention_rate') }},
        {{ suppressible('student_engagement_rate') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
