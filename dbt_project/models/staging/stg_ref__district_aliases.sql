with

source as (

    select * from {{ source('ref', 'district_aliases') }}

),

renamed as (

    select
        -- ids
        district_id,
        state,
        scheme as alias_scheme,
        -- text
        alias,
        alias_normalized
    from source

)

select * from renamed
