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
        st_leaid,
        -- text
        name as district_name,
        -- regular, charter, service_agency, supervisory_union, state_operated...; the samples'
        -- districts are regular unless charter
        coalesce(lea_type, 'regular') as lea_type,
        -- numbers: the school years (ending, inclusive) the district existed; null is unbounded
        cast(valid_from as integer) as valid_from_school_year,
        cast(valid_to as integer) as valid_to_school_year,
        -- booleans
        coalesce(is_synthetic, false) as is_synthetic
    from source

)

select * from renamed
