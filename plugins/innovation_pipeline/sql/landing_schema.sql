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
