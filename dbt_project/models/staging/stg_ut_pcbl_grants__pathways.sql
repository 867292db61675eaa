with

source as (

    select * from {{ source('raw', 'ut_pcbl_grants') }}

),

current_submissions as (

    {{ current_submission_ids('ut_pcbl_grants') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.pathway as text) as pathway,
        cast(source.grant_amount as numeric) as grant_amount,
        {{ suppressible('teachers_microcredentialed') }},
        {{ suppressible('pathway_enrollments') }},
        {{ suppressible('students_served') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
