with

source as (

    select * from {{ source('audit', 'submissions') }}

),

districts as (

    select district_id from {{ source('ref', 'districts') }}

),

canonical as (

    -- A district submitter by its canonical id: rows recorded before the loader did so hold the
    -- code as the file name wrote it ('263' beside 'KY-263' for one district).
    select
        source.*,
        coalesce(districts.district_id, source.submitter) as canonical_submitter
    from source
    left join districts
        on source.state || '-' || source.submitter = districts.district_id

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
        canonical_submitter as submitter,
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
    from canonical
    -- submissions recorded after the snapshot wait for the next build
    where submission_id <= {{ as_of_submission_id() }}

)

select * from renamed
