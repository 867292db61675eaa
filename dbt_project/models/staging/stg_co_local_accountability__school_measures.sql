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
        cast(source.culture_survey_favorable_rate as numeric) as culture_survey_favorable_rate,
        {{ suppressible('students_enrolled') }},
        {{ suppressible('students_participating') }},
        {{ suppressible('skills_attainment_rate') }},
        {{ suppressible('chronic_absenteeism_rate') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
