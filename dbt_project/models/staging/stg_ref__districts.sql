with

source as (

    select * from {{ source('ref', 'districts') }}

),

renamed as (

    select
        -- ids
        district_id,
        state,
        state_code,
        nces_lea_id,
        -- text
        name as district_name,
        -- booleans
        coalesce(is_synthetic, false) as is_synthetic
    from source

)

select * from renamed
