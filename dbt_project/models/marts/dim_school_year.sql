-- Every school year seen in a submission, identified by its ending year (2023-24 is 2024).
with

years as (

    select distinct school_year
    from {{ ref('stg_audit__submissions') }}
    where school_year is not null

)

select
    cast(school_year as integer) as school_year,
    cast((school_year - 1) || '-' || lpad(cast(school_year % 100 as text), 2, '0') as text) as school_year_label,
    cast(make_date(school_year - 1, 7, 1) as date) as starts_on,
    cast(make_date(school_year, 6, 30) as date) as ends_on
from years
