-- Generated from programs/nh_learn_everywhere.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- New Hampshire Learn Everywhere credits (approved providers): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

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
        {{ agg_plain('count(distinct student_id_key)', 'students_participating') }},
        {{ agg_plain('sum(credits_awarded)', 'credits_outside_seat_time') }},
        {{ agg_plain('count(distinct program_name)', 'approved_programs') }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'nh_learn_everywhere', 'nh_learn_everywhere', ['students_participating', 'credits_outside_seat_time', 'approved_programs']) }}

)

select * from unpivoted
