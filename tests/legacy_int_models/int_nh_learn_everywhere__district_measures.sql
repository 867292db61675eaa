-- New Hampshire providers report student credits; a district's cell counts the distinct students
-- (by pseudonym) resident in it. The pseudonym goes no further than this model.
with

credits as (

    select * from {{ ref('stg_nh_learn_everywhere__student_credits') }}
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
        {{ agg_plain('count(distinct student_key)', 'students_participating') }},
        {{ agg_plain('sum(credits_awarded)', 'credits_outside_seat_time') }},
        {{ agg_plain('count(distinct program_name)', 'approved_programs') }}
    from credits
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'nh_learn_everywhere', 'nh_learn_everywhere', [
        'students_participating', 'credits_outside_seat_time', 'approved_programs']) }}

)

select * from unpivoted
