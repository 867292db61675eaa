-- Per program, source, submitter and school year: was it on time, how many rows arrived, loaded
-- and were quarantined (and why), and how many data-quality checks passed and failed. Counts here
-- are of file rows and checks, not of students, so they are not small-cell suppressed.
with

submissions as (

    select * from {{ ref('stg_audit__submissions') }}

),

quarantine as (

    select * from {{ ref('stg_audit__quarantine') }}

),

validation_runs as (

    select * from {{ ref('stg_dq__validation_runs') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by program_id, source, submitter, school_year
            order by (status = 'loaded') desc, received_at desc, submission_id desc
        ) as effective_rank
    from submissions

),

per_key as (

    select
        program_id,
        source,
        state,
        submitter,
        school_year,
        count(*) as submissions_received,
        count(*) filter (where status = 'rejected') as submissions_rejected,
        count(*) filter (where status = 'duplicate') as submissions_duplicate,
        count(*) filter (where status = 'superseded') as submissions_superseded,
        min(received_at) filter (where status in ('loaded', 'superseded')) as first_accepted_at,
        max(received_at) as last_received_at,
        max(due_date) as due_date
    from submissions
    group by program_id, source, state, submitter, school_year

),

effective as (

    select * from ranked
    where effective_rank = 1

),

quarantine_reasons as (

    select
        submission_id,
        string_agg(reason_code || ': ' || reason_count, ', ' order by reason_count desc, reason_code asc) as reasons
    from (
        select
            submission_id,
            reason_code,
            count(*) as reason_count
        from quarantine
        group by submission_id, reason_code
    ) as counted
    group by submission_id

),

latest_runs as (

    select
        submission_id,
        suite_name,
        expectations_evaluated,
        expectations_passed,
        expectations_failed,
        is_success,
        run_at,
        row_number() over (partition by submission_id, suite_name order by run_at desc, run_id desc) as recency
    from validation_runs
    where submission_id is not null

),

checks as (

    select
        submission_id,
        count(*) as suites_run,
        sum(expectations_evaluated) as checks_evaluated,
        sum(expectations_passed) as checks_passed,
        sum(expectations_failed) as checks_failed,
        bool_and(is_success) as all_checks_passed,
        max(run_at) as last_checked_at
    from latest_runs
    where recency = 1
    group by submission_id

)

select
    cast(per_key.program_id as text) as program_id,
    cast(per_key.source as text) as source,
    cast(per_key.state as text) as state,
    cast(per_key.submitter as text) as submitter,
    cast(per_key.school_year as integer) as school_year,
    cast(effective.submission_id as bigint) as effective_submission_id,
    cast(effective.status as text) as effective_status,
    cast(effective.file_name as text) as file_name,
    cast(effective.message as text) as message,
    cast(per_key.due_date as date) as due_date,
    cast(per_key.first_accepted_at as timestamptz) as first_accepted_at,
    cast(per_key.last_received_at as timestamptz) as last_received_at,
    cast(case
        when per_key.first_accepted_at is null then 'not_accepted'
        when per_key.due_date is null then 'on_time'
        when cast(per_key.first_accepted_at as date) <= per_key.due_date then 'on_time'
        else 'late'
    end as text) as timeliness,
    cast(coalesce(
        per_key.first_accepted_at is not null and cast(per_key.first_accepted_at as date) > per_key.due_date, false
    ) as boolean) as is_late,
    cast(per_key.submissions_received as integer) as submissions_received,
    cast(per_key.submissions_rejected as integer) as submissions_rejected,
    cast(per_key.submissions_duplicate as integer) as submissions_duplicate,
    cast(per_key.submissions_superseded as integer) as submissions_superseded,
    cast(effective.rows_received as bigint) as rows_received,
    cast(effective.rows_loaded as bigint) as rows_loaded,
    cast(effective.rows_quarantined as bigint) as rows_quarantined,
    cast(effective.rows_skipped as bigint) as rows_skipped,
    cast(quarantine_reasons.reasons as text) as quarantine_reasons,
    cast(coalesce(checks.suites_run, 0) as integer) as suites_run,
    cast(coalesce(checks.checks_evaluated, 0) as integer) as checks_evaluated,
    cast(coalesce(checks.checks_passed, 0) as integer) as checks_passed,
    cast(coalesce(checks.checks_failed, 0) as integer) as checks_failed,
    cast(checks.all_checks_passed as boolean) as all_checks_passed,
    cast(checks.last_checked_at as timestamptz) as last_checked_at
from per_key
inner join effective
    on
        per_key.program_id = effective.program_id
        and per_key.source = effective.source
        and per_key.submitter is not distinct from effective.submitter
        and per_key.school_year is not distinct from effective.school_year
left join quarantine_reasons
    on effective.submission_id = quarantine_reasons.submission_id
left join checks
    on effective.submission_id = checks.submission_id
