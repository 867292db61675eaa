-- Landing zone: audit trail of every file and submission, quarantine, and the district crosswalk.
-- Idempotent: run before every load. Raw tables (raw.<source>) are created from each contract.
create schema if not exists raw;
create schema if not exists audit;
create schema if not exists ref;

create table if not exists audit.files (
    file_sha256 text primary key,
    size_bytes bigint not null,
    original_name text not null,
    archive_path text not null,
    first_received_at timestamptz not null default now()
);

create table if not exists audit.submissions (
    submission_id bigserial primary key,
    source text not null,
    program text not null,
    state text not null,
    submitter text,
    school_year smallint,
    file_sha256 text not null references audit.files (file_sha256),
    file_name text not null,
    received_at timestamptz not null,
    loaded_at timestamptz not null default now(),
    due_date date,
    is_late boolean,
    status text not null check (status in ('received', 'loaded', 'rejected', 'duplicate', 'superseded')),
    rows_received integer not null default 0,
    rows_loaded integer not null default 0,
    rows_quarantined integer not null default 0,
    rows_skipped integer not null default 0,
    superseded_by bigint references audit.submissions (submission_id),
    duplicate_of bigint references audit.submissions (submission_id),
    reason_code text,
    message text,
    constraint received_equals_loaded_plus_quarantined check (
        status not in ('loaded', 'superseded') or rows_received = rows_loaded + rows_quarantined
    )
);
create index if not exists submissions_key on audit.submissions (source, submitter, school_year, status);
create index if not exists submissions_file on audit.submissions (source, file_sha256);

create table if not exists audit.quarantine (
    quarantine_id bigserial primary key,
    submission_id bigint not null references audit.submissions (submission_id),
    source text not null,
    source_row integer,
    sheet text,
    column_name text,
    field_name text,
    reason_code text not null,
    message text not null,
    raw_value text
);
create index if not exists quarantine_submission on audit.quarantine (submission_id);

create table if not exists ref.districts (
    district_id text primary key,
    state text not null,
    state_code text,
    nces_lea_id text,
    name text not null,
    is_synthetic boolean not null default false
);
-- The real directory's CCD id, LEA type and the school years (ending years, inclusive) a district
-- existed in: a closed district resolves for its years only.
alter table ref.districts add column if not exists st_leaid text;
alter table ref.districts add column if not exists lea_type text;
alter table ref.districts add column if not exists valid_from smallint;
alter table ref.districts add column if not exists valid_to smallint;
create index if not exists districts_state_code on ref.districts (state, state_code);
create index if not exists districts_nces on ref.districts (nces_lea_id);

create table if not exists ref.district_aliases (
    district_id text not null references ref.districts (district_id),
    state text not null,
    alias text not null,
    alias_normalized text not null,
    primary key (state, alias_normalized, district_id)
);

create table if not exists ref.reference_versions (
    name text primary key,
    content_sha256 text not null,
    loaded_at timestamptz not null default now()
);

-- Marts snapshots. A marts build reads the landing zone as of one submission id, so that a
-- resubmission committing while dbt runs (each model in its own transaction) leaves every mart on
-- the same side of it. The latest row of audit.marts_builds is the snapshot staging reads. Every
-- transaction that records submissions holds the fence shared until it commits; taking a snapshot
-- holds it exclusively, so at that instant no load is in flight and every submission id up to the
-- snapshot belongs to a finished transaction.
create table if not exists audit.marts_builds (
    build_seq bigserial unique,
    build_id text primary key,
    as_of_submission_id bigint not null,
    taken_at timestamptz not null default now(),
    requested_by text
);
alter table audit.marts_builds add column if not exists build_seq bigserial;

-- Marts builds that finished, with what they had read: the next build runs only the models
-- downstream of what changed since (orchestration/marts_selection.py).
create table if not exists audit.marts_finished_builds (
    build_seq bigserial primary key,
    project_state text not null,
    through_submission_id bigint not null,
    reference_digest text not null,
    dq_run_id bigint not null,
    selection text not null,
    finished_at timestamptz not null default now()
);

create or replace function audit.take_marts_snapshot(p_build_id text, p_requested_by text default null)
returns bigint
language plpgsql
volatile
as $fn$
declare
    latest record;
    pinned bigint;
begin
    perform pg_advisory_xact_lock(hashtextextended('innovation.marts_snapshot', 0));
    select build_id, as_of_submission_id into latest from audit.marts_builds order by build_seq desc limit 1;
    -- A retried build reads its snapshot again; an older build must not take the marts back.
    if found and latest.build_id = p_build_id then
        return latest.as_of_submission_id;
    end if;
    if exists (select from audit.marts_builds where build_id = p_build_id) then
        raise exception 'marts build % cannot run again: build % has pinned a newer snapshot since; start a new build',
            p_build_id, latest.build_id;
    end if;
    -- A new statement, so a new read snapshot: it sees every load that committed before the lock.
    select coalesce(max(submission_id), 0) into pinned from audit.submissions;
    insert into audit.marts_builds (build_id, as_of_submission_id, requested_by)
    values (p_build_id, pinned, p_requested_by);
    return pinned;
end
$fn$;

-- For each step of a build that pinned p_as_of: fail if another build has pinned a different
-- snapshot since (its steps would read that one).
create or replace function audit.assert_marts_snapshot(p_as_of bigint)
returns bigint
language plpgsql
stable
as $fn$
declare
    latest record;
begin
    select build_id, as_of_submission_id into latest from audit.marts_builds order by build_seq desc limit 1;
    if not found or latest.as_of_submission_id is distinct from p_as_of then
        raise exception 'this marts build pinned submission % but build % has since pinned %: start a new build',
            p_as_of, latest.build_id, latest.as_of_submission_id;
    end if;
    return p_as_of;
end
$fn$;
