with

source as (

    select * from {{ source('dq', 'validation_runs') }}

),

renamed as (

    select
        -- ids
        cast(run_id as bigint) as run_id,
        suite_name,
        kind as suite_kind,
        source,
        program as program_id,
        cast(submission_id as bigint) as submission_id,
        -- numbers
        cast(evaluated as integer) as expectations_evaluated,
        cast(successful as integer) as expectations_passed,
        cast(unsuccessful as integer) as expectations_failed,
        -- booleans
        success as is_success,
        -- text
        error_message,
        -- dates
        run_at
    from source
    -- checks of submissions recorded after the build's snapshot wait for the next build
    where submission_id is null or submission_id <= {{ as_of_submission_id() }}

)

select * from renamed
