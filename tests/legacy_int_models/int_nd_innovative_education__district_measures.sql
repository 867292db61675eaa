-- North Dakota's register has one row per waiver; the same students are covered by each of a
-- district's waivers, so students are the largest waiver's figure, not the sum.
with

waivers as (

    select * from {{ ref('stg_nd_innovative_education__waivers') }}
    where row_kind = 'district'

),

district_totals as (

    select
        state,
        district_id,
        row_kind,
        school_year,
        max(submission_id) as last_submission_id,
        max(loaded_at) as loaded_at,
        {{ agg_max('students_served', alias='students_participating') }},
        {{ agg_max('students_served', alias='students_assessed') }},
        {{ agg_max('students_meeting_standards', alias='students_proficient') }},
        {{ agg_plain('max(schools_covered)', 'schools_participating') }},
        {{ agg_plain('count(distinct waiver_rule)', 'waivers_granted') }}
    from waivers
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'nd_innovative_education', 'nd_innovative_education', [
        'students_participating', 'students_assessed', 'students_proficient', 'schools_participating',
        'waivers_granted']) }}

)

select * from unpivoted
