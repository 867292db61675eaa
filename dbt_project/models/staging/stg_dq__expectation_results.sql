with

source as (

    select * from {{ source('dq', 'expectation_results') }}

),

renamed as (

    select
        -- ids
        cast(run_id as text) as run_id,
        expectation_type,
        column_name,
        -- text
        cast(observed_value as text) as observed_value,
        description,
        -- booleans
        success as is_success
    from source

)

select * from renamed
