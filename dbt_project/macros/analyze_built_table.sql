{#- post-hook: refresh the planner's statistics of a table model (views have none).

    A table model is new on every run: always analyzed. An incremental model is analyzed when it
    has no statistics yet or this run's transaction changed more than 10% of its rows (plus 50),
    autovacuum's own analyze threshold; a smaller change leaves the plans as they were, and
    analyzing an unchanged 100k-row fact cost more than its whole incremental run.
    pg_stat_xact_user_tables counts this transaction's inserts, updates and deletes (the pre-hook's
    delete included), before they are reported to the statistics collector. -#}
{% macro analyze_built_table() -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if materialized == 'table' -%}
        analyze {{ this }}
    {%- elif materialized == 'incremental' -%}
        {%- set relation = this.include(database=False) -%}
        do $analyze$
        begin
            if (
                select
                    relation.reltuples < 0
                    or coalesce(changed.n_tup_ins + changed.n_tup_upd + changed.n_tup_del, 0)
                    > 50 + 0.1 * relation.reltuples
                from pg_class as relation
                left join pg_stat_xact_user_tables as changed
                    on relation.oid = changed.relid
                where relation.oid = '{{ relation }}'::regclass
            ) then
                analyze {{ relation }};
            end if;
        end
        $analyze$
    {%- endif -%}
{%- endmacro %}
