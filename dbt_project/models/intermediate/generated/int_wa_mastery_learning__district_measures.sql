-- Generated from programs/wa_mastery_learning.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Washington Mastery-Based Learning Collaborative (OSPI): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

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
        {{ agg_weighted_rate('postsecondary_ready_rate', 'students_mastery_based', alias='postsecondary_ready_rate', rate_suppressible=true, weight_suppressible=true) }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'wa_mastery_learning', 'wa_mastery_learning', ['students_participating', 'educators_participating', 'credits_outside_seat_time', 'postsecondary_ready_rate']) }}

)

select * from unpivoted
