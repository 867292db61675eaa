-- Generated from programs/co_chronic_absenteeism.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Colorado chronic absenteeism by district (CDE): one district's chronic absenteeism for one school year; current submissions only.
with

source as (

    select * from {{ source('raw', 'co_chronic_absenteeism') }}

),

current_submissions as (

    {{ current_submission_ids('co_chronic_absenteeism') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.county_code as text) as county_code,
        cast(source.county_name as text) as county_name,
        cast(source.district_name as text) as district_name,
        {{ suppressible('pk12_enrollment') }},
        {{ suppressible('enrollment') }},
        {{ suppressible('chronic_absent_count') }},
        {{ suppressible('chronic_absenteeism_rate') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
