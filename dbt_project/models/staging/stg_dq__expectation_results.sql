with

source as (

    select * from {{ source('dq', 'expectation_results') }}

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

)

select * from renamed
