-- Generated from programs/co_local_accountability.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Colorado Local Accountability Systems grants (school measures): one school in a grantee district, for one school year; current submissions only.
with

source as (

    select * from {{ source('raw', 'co_local_accountability') }}

),

current_submissions as (

    {{ current_submission_ids('co_local_accountability') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.school_code as text) as school_code,
        cast(source.school_name as text) as school_name,
        cast(source.grant_amount as numeric) as grant_amount,
        {{ suppressible('students_enrolled') }},
        {{ suppressible('students_participating') }},
        {{ suppressible('skills_attainment_rate') }},
        cast(source.culture_survey_favorable_rate as numeric) as culture_survey_favorable_rate,
        {{ suppressible('chronic_absenteeism_rate') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
