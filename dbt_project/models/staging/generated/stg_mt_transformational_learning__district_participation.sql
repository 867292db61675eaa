-- Generated from programs/mt_transformational_learning.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Montana Transformational Learning program report (OPI): one participating district in one school year; current submissions only.
with

source as (

    select * from {{ source('raw', 'mt_transformational_learning') }}

),

current_submissions as (

    {{ current_submission_ids('mt_transformational_learning') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        {{ suppressible('students_enrolled') }},
        {{ suppressible('students_proficiency_based') }},
        {{ suppressible('students_remote_credit') }},
        cast(source.credits_by_proficiency as numeric) as credits_by_proficiency,
        cast(source.work_based_learning_hours as numeric) as work_based_learning_hours,
        {{ suppressible('dual_credit_enrollments') }},
        cast(source.funding_amount as numeric) as funding_amount
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
