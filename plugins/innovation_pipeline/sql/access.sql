-- Roles and row-level security. Idempotent; run by `innovation-pipeline access setup` (and the demo,
-- the marts DAG and the tests) as a role that may create roles.
do $$
begin
    if not exists (select from pg_roles where rolname = 'pipeline_loader') then
        create role pipeline_loader nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'pipeline_transformer') then
        create role pipeline_transformer nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'pipeline_analyst') then
        create role pipeline_analyst nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'pipeline_officer') then
        create role pipeline_officer nologin;
    end if;
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

-- True when the current user may see rows of this state: users in no state-scoped role see every
-- state their grants allow; users in one or more see only those states.
create or replace function access.can_see_state(row_state text) returns boolean
language sql stable as $fn$
    select case
        when not exists (
            select 1 from access.state_scopes s where pg_has_role(current_user, s.role_name, 'member')
        ) then true
        else exists (
            select 1 from access.state_scopes s
            where pg_has_role(current_user, s.role_name, 'member') and s.state = row_state
        )
    end
$fn$;

-- Called by dbt after each mart is (re)built, inside the same transaction: the mart is readable by
-- analysts and officers, and a mart with a `state` column is never visible without its policy.
create or replace function access.publish_mart(target regclass) returns void
language plpgsql as $fn$
begin
    execute format('grant select on %s to pipeline_analyst', target);
    if exists (
        select 1 from pg_attribute where attrelid = target and attname = 'state' and not attisdropped
    ) then
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
end
$$;

-- Analyst: the marts, nothing else.
grant usage on schema marts, access to pipeline_analyst;
grant select on all tables in schema marts to pipeline_analyst;
alter default privileges in schema marts grant select on tables to pipeline_analyst;
alter default privileges for role pipeline_transformer in schema marts grant select on tables to pipeline_analyst;
grant select on access.state_scopes to pipeline_analyst;
grant execute on function access.can_see_state(text) to pipeline_analyst;

-- Program officer: the marts and the data-quality results.
grant pipeline_analyst to pipeline_officer;
grant usage on schema dq to pipeline_officer;
grant select on all tables in schema dq to pipeline_officer;
alter default privileges in schema dq grant select on tables to pipeline_officer;
alter default privileges for role pipeline_transformer in schema dq grant select on tables to pipeline_officer;

revoke all on schema raw, audit, ref, staging, intermediate, seeds from public;
revoke create on schema public from public;
