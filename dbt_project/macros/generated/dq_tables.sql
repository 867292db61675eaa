{#- Generated from plugins/innovation_pipeline/sql/dq_schema.sql by `innovation-pipeline contracts
    sync`: edit that file, not this one. submission_quality reads the dq tables, so on a fresh
    warehouse where no validation has run yet, on-run-start creates them empty; IF NOT EXISTS leaves
    tables the data-quality suite made untouched. -#}
{% macro create_dq_tables_if_missing() %}
    create schema if not exists dq;

    create table if not exists dq.validation_runs (
        run_id          bigint generated always as identity primary key,
        suite_name      text not null,
        kind            text not null check (kind in ('landing', 'mart')),
        source          text,
        program         text,
        submission_id   bigint,
        asset_name      text not null,
        run_at          timestamptz not null default now(),
        success         boolean not null,
        evaluated       integer not null default 0,
        successful      integer not null default 0,
        unsuccessful    integer not null default 0,
        gx_result_id    text,
        error_message   text,
        dag_id          text,
        dag_run_id      text
    );
    create index if not exists validation_runs_submission_idx on dq.validation_runs (submission_id, run_at desc);
    create index if not exists validation_runs_suite_idx on dq.validation_runs (suite_name, run_at desc);

    comment on table dq.validation_runs is
        'One row per Great Expectations validation: a landing suite against one submission, or a mart suite.';
    comment on column dq.validation_runs.submission_id is 'audit.submissions.submission_id for landing runs; null for marts.';
    comment on column dq.validation_runs.error_message is 'Set when the validation could not run at all (e.g. the table is missing).';

    create table if not exists dq.expectation_results (
        result_id          bigint generated always as identity primary key,
        run_id             bigint not null references dq.validation_runs (run_id) on delete cascade,
        expectation_type   text not null,
        check_id           text,
        column_name        text,
        success            boolean not null,
        observed_value     text,
        element_count      bigint,
        unexpected_count   bigint,
        unexpected_percent numeric,
        description        text,
        message            text,
        expectation_kwargs jsonb not null default '{}'::jsonb,
        exception_message  text
    );
    create index if not exists expectation_results_run_idx on dq.expectation_results (run_id);

    comment on table dq.expectation_results is 'One row per expectation evaluated in a validation run.';
    comment on column dq.expectation_results.description is 'What the check means, in plain words.';
    comment on column dq.expectation_results.message is 'What was found, in plain words (null when the check passed).';
    comment on column dq.expectation_results.check_id is 'Key into the plain-language catalog (dq/catalog.yml).';

    create table if not exists dq.example_rows (
        run_id      bigint not null references dq.validation_runs (run_id) on delete cascade,
        result_id   bigint not null references dq.expectation_results (result_id) on delete cascade,
        example_no  integer not null,
        source_row  integer,
        row_values  jsonb not null,
        primary key (result_id, example_no)
    );

    comment on table dq.example_rows is
        'A few rows that failed a check. Student identifiers are never stored: any *_key or student id column is masked.';
{% endmacro %}
