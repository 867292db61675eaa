with

source as (

    select * from {{ source('audit', 'submissions') }}

),

renamed as (

    select
        -- ids
        submission_id,
        superseded_by as superseded_by_submission_id,
        source,
        program as program_id,
        state,
        submitter,
        cast(school_year as integer) as school_year,
        file_sha256,
        file_name,
        status,
        message,
        -- numbers
        cast(rows_received as bigint) as rows_received,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(rows_quarantined as bigint) as rows_quarantined,
        cast(rows_skipped as bigint) as rows_skipped,
        -- booleans
        coalesce(is_late, false) as is_late,
        -- dates
        cast(due_date as date) as due_date,
        received_at
    from source

)

select * from renamed
