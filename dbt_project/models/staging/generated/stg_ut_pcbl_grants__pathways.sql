-- Generated from programs/ut_pcbl_grants.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Utah PCBL grant reports: one pathway (CTE, STEM, IB, AP, PCBL) of a grantee district; current submissions only.
with

source as (

    select * from {{ source('raw', 'ut_pcbl_grants') }}

),

current_submissions as (

    {{ current_submission_ids('ut_pcbl_grants') }}

),

renamed as (

    select
        {{ landing_columns() }},
        -- fields
        cast(source.pathway as text) as pathway,
        cast(source.grant_amount as numeric) as grant_amount,
        {{ suppressible('teachers_microcredentialed') }},
        {{ suppressible('pathway_enrollments') }},
        {{ suppressible('students_served') }}
    from source
    inner join current_submissions
        on source._submission_id = current_submissions.submission_id

)

select * from renamed
