with

source as (

    select * from {{ source('ref', 'district_aliases') }}

),

renamed as (

    select
        -- ids
        district_id,
        state,
        -- text
        alias,
        alias_normalized
    from source

)

select * from renamed
