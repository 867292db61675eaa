-- Washington's file has one row per participating district already.
with

districts as (

    select * from {{ ref('stg_wa_mastery_learning__district_participation') }}
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
        {{ agg_sum('students_mastery_based', alias='students_participating') }},
        {{ agg_sum('educators_in_pd', alias='educators_participating') }},
        {{ agg_plain('sum(mastery_credits_awarded)', 'credits_outside_seat_time') }},
        {{ agg_weighted_rate('postsecondary_ready_rate', 'students_mastery_based') }}
    from districts
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'wa_mastery_learning', 'wa_mastery_learning', [
        'students_participating', 'educators_participating', 'credits_outside_seat_time',
        'postsecondary_ready_rate']) }}

)

select * from unpivoted
