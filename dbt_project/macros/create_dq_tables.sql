{#- The dq schema belongs to the data-quality suite (innovation_pipeline.dq.schema, which the
    pipeline runs before dbt). submission_quality reads it, so on a fresh warehouse where no
    validation has run yet, on-run-start creates the tables empty. The DDL mirrors dq/schema.py
    (keep the two in step); IF NOT EXISTS leaves tables the DQ suite made untouched. -#}
{% macro create_dq_tables_if_missing() %}
    create schema if not exists dq;
    create table if not exists dq.validation_runs (
        run_id bigint generated always as identity primary key,
        suite_name text not null,
        kind text not null check (kind in ('landing', 'mart')),
        source text,
        program text,
        submission_id bigint,
        asset_name text not null,
        run_at timestamptz not null default now(),
        success boolean not null,
        evaluated integer not null default 0,
        successful integer not null default 0,
        unsuccessful integer not null default 0,
        gx_result_id text,
        error_message text,
        dag_id text,
        dag_run_id text
    );
    create table if not exists dq.expectation_results (
        result_id bigint generated always as identity primary key,
        run_id bigint not null references dq.validation_runs (run_id) on delete cascade,
        expectation_type text not null,
        check_id text,
        column_name text,
        success boolean not null,
        observed_value text,
        element_count bigint,
        unexpected_count bigint,
        unexpected_percent numeric,
        description text,
        message text,
        expectation_kwargs jsonb not null default '{}'::jsonb,
        exception_message text
    );
    create table if not exists dq.example_rows (
        run_id bigint not null references dq.validation_runs (run_id) on delete cascade,
        result_id bigint not null references dq.expectation_results (result_id) on delete cascade,
        example_no integer not null,
        source_row integer,
        row_values jsonb not null,
        primary key (result_id, example_no)
    );
{% endmacro %}
