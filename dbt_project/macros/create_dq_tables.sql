{#- The dq schema is owned by the data-quality suite (GX results). submission_quality joins it, so
    on-run-start creates the two tables it reads, empty, when they are missing. Existing tables are
    left untouched (IF NOT EXISTS), whatever extra columns the DQ suite has added. -#}
{% macro create_dq_tables_if_missing() %}
    create schema if not exists dq;
    create table if not exists dq.validation_runs (
        run_id text,
        suite_name text,
        source text,
        submission_id bigint,
        run_at timestamptz,
        success boolean,
        evaluated integer,
        successful integer,
        unsuccessful integer
    );
    create table if not exists dq.expectation_results (
        run_id text,
        expectation_type text,
        column_name text,
        success boolean,
        observed_value text,
        description text
    );
{% endmacro %}
