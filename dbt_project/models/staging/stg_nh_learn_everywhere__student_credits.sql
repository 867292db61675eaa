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
        -- student pseudonym (HMAC); never selected into marts
        source.student_id_key as student_key,
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
