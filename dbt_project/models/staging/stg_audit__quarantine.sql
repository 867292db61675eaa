with

source as (

    select * from {{ source('audit', 'quarantine') }}

),

renamed as (

    select
        -- ids
        submission_id,
        source,
        sheet as sheet_name,
        cast(source_row as integer) as source_row,
        column_name,
        reason_code,
        -- text (raw_value is masked by the loader for student identifiers)
        message,
        raw_value
    from source
    where submission_id <= {{ as_of_submission_id() }}

)

select * from renamed
