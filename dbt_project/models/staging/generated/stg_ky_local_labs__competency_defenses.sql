-- Generated from programs/ky_local_labs.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Kentucky Local Laboratories of Learning (Backpack of Success Skills): one district's defenses of one success-skill competency at one transition grade; current submissions only.
with

source as (

    select * from {{ source('raw', 'ky_local_labs') }}

),

current_submissions as (

    {{ current_submission_ids('ky_local_labs') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.grade as text) as grade,
        cast(source.competency as text) as competency,
        {{ suppressible('students_eligible') }},
        {{ suppressible('students_defended') }},
        {{ suppressible('students_proficient') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
