-- Roles and row-level security. Idempotent; run by `innovation-pipeline access setup` (and the demo,
-- the marts DAG and the tests) as a role that may create roles.
-- Grants-only roles, no rows: pipeline_mart_reader is what analysts (scoped or not) may select,
-- pipeline_dq_reader what officers may also read in dq. A state-scoped role is a member of these,
-- never of pipeline_analyst or pipeline_officer, so `set role pipeline_analyst` is not open to it;
-- and `set role` to one of these shows no rows at all (access.can_see_state).
do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'pipeline_loader', 'pipeline_transformer', 'pipeline_analyst', 'pipeline_officer',
        'pipeline_mart_reader', 'pipeline_dq_reader'
    ] loop
        if not exists (select from pg_roles where rolname = role_name) then
            execute format('create role %I nologin', role_name);
        end if;
    end loop;
end
$$;

create schema if not exists raw;
create schema if not exists audit;
create schema if not exists ref;
create schema if not exists dq;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists seeds;
create schema if not exists access;

-- Which state-scoped roles see which states' rows in the marts.
create table if not exists access.state_scopes (
    role_name text not null,
    state text not null,
    primary key (role_name, state)
);

-- Which Airflow users see only some states' data-quality report (the report plugin serves them the
-- report built for those states). Users not listed see the statewide report. Read by the pipeline's
-- own connection only: no reader role is granted it.
create table if not exists access.report_viewers (
    airflow_user text not null,
    state text not null check (state ~ '^[A-Z]{2}$'),
    primary key (airflow_user, state)
);

-- True when the user may see rows of this state. Whoever is in a state-scoped role, as the login
-- (session_user, which `set role` does not change) or as the role in effect (current_user), sees
-- only the states of those scopes. Everyone else sees every state only through a role allowed all
-- states (analysts, officers, the transformer and loader); the grants-only roles
-- pipeline_mart_reader and pipeline_dq_reader alone see no rows.
create or replace function access.can_see_state(row_state text) returns boolean
language sql stable
set search_path = pg_catalog
as $fn$
    select case
        when exists (
            select 1 from access.state_scopes s
            where pg_has_role(session_user, s.role_name, 'member') or pg_has_role(current_user, s.role_name, 'member')
        ) then exists (
            select 1 from access.state_scopes s
            where (pg_has_role(session_user, s.role_name, 'member') or pg_has_role(current_user, s.role_name, 'member'))
              and s.state = row_state
        )
        else pg_has_role(current_user, 'pipeline_analyst', 'member')
            or pg_has_role(current_user, 'pipeline_transformer', 'member')
            or pg_has_role(current_user, 'pipeline_loader', 'member')
            or (select rolsuper from pg_roles where rolname = current_user)
    end
$fn$;

-- The state of a source's submissions, for the dq row policies (dq rows carry the source, not the
-- state). Security definer: it reads audit.submissions, which officers cannot; it returns a state
-- code only.
create or replace function access.source_state(p_source text) returns text
language plpgsql stable security definer
set search_path = pg_catalog
as $fn$
begin
    return (select s.state from audit.submissions s where s.source = p_source limit 1);
end
$fn$;
revoke all on function access.source_state(text) from public;

-- Called by dbt after each mart is (re)built, inside the same transaction: the mart is readable by
-- analysts and officers, and a mart with a `state` column is never visible without its policy.
create or replace function access.publish_mart(target regclass) returns void
language plpgsql as $fn$
declare
    kind "char" := (select relkind from pg_class where oid = target);
    has_state boolean := exists (
        select 1 from pg_attribute where attrelid = target and attname = 'state' and not attisdropped
    );
begin
    -- A materialized view can carry no row policy: with a state column it is not published.
    if kind = 'm' and has_state then
        raise warning '% has a state column but no row policy can apply to a materialized view: not granted', target;
        return;
    end if;
    execute format('grant select on %s to pipeline_analyst, pipeline_mart_reader', target);
    if kind = 'v' then
        -- A view reads its tables as its owner, whom no row policy limits: make it read them as
        -- the user who queries it.
        execute format('alter view %s set (security_invoker = true)', target);
    elsif has_state then
        execute format('alter table %s enable row level security', target);
        execute format('drop policy if exists state_scope on %s', target);
        execute format(
            'create policy state_scope on %s for select using (access.can_see_state(state))', target
        );
    end if;
end
$fn$;

-- Loader: writes the landing zone only.
grant usage, create on schema raw, audit, ref to pipeline_loader;
grant select, insert, update, delete on all tables in schema raw, audit, ref to pipeline_loader;
grant usage on all sequences in schema audit to pipeline_loader;
alter default privileges in schema raw, audit, ref grant select, insert, update, delete on tables to pipeline_loader;
alter default privileges in schema audit grant usage on sequences to pipeline_loader;

-- Transformer (dbt): reads the landing zone and dq, builds staging, intermediate, marts and seeds.
grant usage on schema raw, audit, ref, dq to pipeline_transformer;
grant select on all tables in schema raw, audit, ref, dq to pipeline_transformer;
alter default privileges in schema raw, audit, ref, dq grant select on tables to pipeline_transformer;
grant usage, create on schema staging, intermediate, marts, seeds, dq to pipeline_transformer;
grant usage on schema access to pipeline_transformer;
grant execute on function access.publish_mart(regclass) to pipeline_transformer;
-- A dbt invocation outside the marts DAG pins its own snapshot (on-run-start; audit.marts_builds).
do $$
begin
    if to_regclass('audit.marts_builds') is not null then
        grant select, insert on audit.marts_builds to pipeline_transformer;
        grant execute on function audit.take_marts_snapshot(text, text) to pipeline_transformer;
        grant execute on function audit.assert_marts_snapshot(bigint) to pipeline_transformer;
        grant usage on sequence audit.marts_builds_build_seq_seq to pipeline_transformer;
    end if;
    -- The marts build records what it read (orchestration/marts_selection.py).
    if to_regclass('audit.marts_finished_builds') is not null then
        grant select, insert on audit.marts_finished_builds to pipeline_transformer;
        grant usage on sequence audit.marts_finished_builds_build_seq_seq to pipeline_transformer;
    end if;
end
$$;

-- What an analyst may select, scoped or not: the marts (their rows filtered by the state policy).
-- pipeline_analyst holds it as a member (below), as the state-scoped roles do.
grant usage on schema marts, access to pipeline_mart_reader;
grant select on all tables in schema marts to pipeline_mart_reader;
alter default privileges in schema marts grant select on tables to pipeline_mart_reader;
alter default privileges for role pipeline_transformer in schema marts grant select on tables to pipeline_mart_reader;
grant select on access.state_scopes to pipeline_mart_reader;
grant execute on function access.can_see_state(text) to pipeline_mart_reader;
-- Analyst: the marts, nothing else (every state's rows: access.can_see_state).
grant pipeline_mart_reader to pipeline_analyst;

-- What a state-scoped officer may also select: dq, its rows filtered by the dq policies below.
grant usage on schema dq, access to pipeline_dq_reader;
grant select on all tables in schema dq to pipeline_dq_reader;
alter default privileges in schema dq grant select on tables to pipeline_dq_reader;
alter default privileges for role pipeline_transformer in schema dq grant select on tables to pipeline_dq_reader;
grant execute on function access.source_state(text) to pipeline_dq_reader, pipeline_officer, pipeline_transformer;

-- dq rows by state: a landing run's source gives its state; a mart run (all states) is not shown to
-- a scoped officer. Result and example rows follow their run.
do $$
begin
    if to_regclass('dq.validation_runs') is not null then
        alter table dq.validation_runs enable row level security;
        drop policy if exists state_scope on dq.validation_runs;
        create policy state_scope on dq.validation_runs for select
            using (access.can_see_state(access.source_state(source)));
        alter table dq.expectation_results enable row level security;
        drop policy if exists state_scope on dq.expectation_results;
        create policy state_scope on dq.expectation_results for select
            using (exists (select 1 from dq.validation_runs r where r.run_id = expectation_results.run_id));
        alter table dq.example_rows enable row level security;
        drop policy if exists state_scope on dq.example_rows;
        create policy state_scope on dq.example_rows for select
            using (exists (select 1 from dq.validation_runs r where r.run_id = example_rows.run_id));
    end if;
end
$$;

-- Program officer: the marts and the data-quality results.
grant pipeline_analyst to pipeline_officer;
grant pipeline_dq_reader to pipeline_officer;

revoke all on schema raw, audit, ref, staging, intermediate, seeds from public;
revoke create on schema public from public;
