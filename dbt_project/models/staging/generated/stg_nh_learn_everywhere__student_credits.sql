-- Generated from programs/nh_learn_everywhere.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- New Hampshire Learn Everywhere credits (approved providers): one student's credit in one approved program; current submissions only.
with

source as (

    select * from {{ source('raw', 'nh_learn_everywhere') }}

),

current_submissions as (

    {{ current_submission_ids('nh_learn_everywhere') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        -- pseudonym (HMAC) of the student identifier; never selected into a mart
        source.student_id_key as student_id_key,
        cast(source.provider_name as text) as provider_name,
        cast(source.program_name as text) as program_name,
        cast(source.subject_area as text) as subject_area,
        cast(source.credits_awarded as numeric) as credits_awarded,
        cast(source.date_awarded as date) as date_awarded
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
