-- Generated from programs/nd_innovative_education.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- North Dakota Innovative Education waiver register (DPI): one waiver of a law or rule granted to a district; current submissions only.
with

source as (

    select * from {{ source('raw', 'nd_innovative_education') }}

),

current_submissions as (

    {{ current_submission_ids('nd_innovative_education') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.waiver_rule as text) as waiver_rule,
        cast(source.granted_date as date) as granted_date,
        cast(source.schools_covered as numeric) as schools_covered,
        {{ suppressible('students_served') }},
        {{ suppressible('students_meeting_standards') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
