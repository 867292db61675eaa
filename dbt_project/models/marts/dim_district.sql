-- One row per canonical district in the reference directory, with every name or code variant the
-- crosswalk knows or a submission used.
with

districts as (

    select * from {{ ref('int_district_directory') }}

),

aliases as (

    select
        district_id,
        alias as variant
    from {{ ref('stg_ref__district_aliases') }}

),

seen as (

    {% for entry in contract_registry() %}
    select distinct
        district_id,
        district_source_value as variant
    from {{ ref(entry.staging_model) }}
    where district_id is not null and district_source_value is not null
    {% if not loop.last %}union{% endif %}
    {% endfor %}

),

variants as (

    select
        district_id,
        string_agg(distinct trim(variant), '; ') as name_variants
    from (
        select * from aliases
        union
        select * from seen
    ) as all_variants
    group by district_id

)

select
    cast(districts.district_id as text) as district_id,
    cast(districts.state as text) as state,
    cast(districts.state_code as text) as state_code,
    cast(districts.nces_lea_id as text) as nces_lea_id,
    cast(districts.st_leaid as text) as st_leaid,
    cast(districts.district_name as text) as district_name,
    cast(districts.lea_type as text) as lea_type,
    cast(districts.is_regular_district as boolean) as is_regular_district,
    cast(districts.valid_from_school_year as integer) as valid_from_school_year,
    cast(districts.valid_to_school_year as integer) as valid_to_school_year,
    cast(variants.name_variants as text) as name_variants,
    cast(districts.is_synthetic as boolean) as is_synthetic
from districts
left join variants
    on districts.district_id = variants.district_id
