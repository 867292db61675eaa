-- Generated from programs/mt_transformational_learning.yml by `innovation-pipeline contracts sync`: edit the contract, not this file.
-- Montana Transformational Learning program report (OPI): the source's cells on the conformed grain (district or State Total,
-- school year, measure), one row per measure. True values before small-cell suppression.
with

source_rows as (

    select * from {{ ref('stg_mt_transformational_learning__district_participation') }}
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
        {{ agg_sum('students_proficiency_based', alias='students_participating') }},
        {{ agg_sum('students_enrolled', alias='students_enrolled') }},
        {{ agg_sum('students_remote_credit', alias='students_remote_credit') }},
        {{ agg_sum('dual_credit_enrollments', alias='dual_credit_enrollments') }},
        {{ agg_plain('sum(credits_by_proficiency)', 'credits_outside_seat_time') }},
        {{ agg_plain('sum(work_based_learning_hours)', 'work_based_learning_hours') }},
        {{ agg_plain('sum(funding_amount)', 'funding_amount') }}
    from source_rows
    group by state, district_id, row_kind, school_year

),

unpivoted as (

    {{ unpivot_measures('district_totals', 'mt_transformational_learning', 'mt_transformational_learning', ['students_participating', 'students_enrolled', 'students_remote_credit', 'dual_credit_enrollments', 'credits_outside_seat_time', 'work_based_learning_hours', 'funding_amount']) }}

)

select * from unpivoted
