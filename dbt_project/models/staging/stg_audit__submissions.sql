with

source as (

    select * from {{ source('audit', 'submissions') }}

),

renamed as (

    select
        -- ids
        submission_id,
        -- as of the build's snapshot: a later supersession is not visible yet
        case
            when superseded_by <= {{ as_of_submission_id() }} then superseded_by
        end as superseded_by_submission_id,
        source,
        program as program_id,
        state,
        submitter,
        cast(school_year as integer) as school_year,
        file_sha256,
        file_name,
        {{ status_as_of() }} as status,
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
    -- submissions recorded after the snapshot wait for the next build
    where submission_id <= {{ as_of_submission_id() }}

)

select * from renamed
