with

source as (

    select * from {{ source('dq', 'expectation_results') }}

),

runs_in_snapshot as (

    -- the same runs stg_dq__validation_runs keeps
    select run_id
    from {{ source('dq', 'validation_runs') }}
    where submission_id is null or submission_id <= {{ as_of_submission_id() }}

),

renamed as (

    select
        -- ids
        result_id,
        cast(run_id as bigint) as run_id,
        check_id,
        expectation_type,
        column_name,
        -- text
        cast(observed_value as text) as observed_value,
        description,
        message,
        -- booleans
        success as is_success
    from source
    where run_id in (select runs_in_snapshot.run_id from runs_in_snapshot)

)

select * from renamed
