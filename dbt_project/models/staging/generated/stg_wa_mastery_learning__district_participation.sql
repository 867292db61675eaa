-- Generated from programs/wa_mastery_learning.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Washington Mastery-Based Learning Collaborative (OSPI): one participating district in one school year; current submissions only.
with

source as (

    select * from {{ source('raw', 'wa_mastery_learning') }}

),

current_submissions as (

    {{ current_submission_ids('wa_mastery_learning') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        {{ suppressible('educators_in_pd') }},
        {{ suppressible('students_mastery_based') }},
        cast(source.mastery_credits_awarded as numeric) as mastery_credits_awarded,
        {{ suppressible('postsecondary_ready_rate') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
