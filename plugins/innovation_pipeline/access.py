"""PostgreSQL roles and row-level security, created by code the project runs (idempotently).

- ``pipeline_loader`` writes the raw, audit and ref schemas;
- ``pipeline_transformer`` (dbt) reads them and builds staging, intermediate and marts;
- ``pipeline_analyst`` reads only the marts;
- ``pipeline_officer`` reads the marts and ``dq``.

People log in as their own roles, granted one of these. A state-scoped role (``state_role``) sees
only its states' rows in every mart that has a ``state`` column.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg
from psycopg import sql

GROUP_ROLES = ("pipeline_loader", "pipeline_transformer", "pipeline_analyst", "pipeline_officer")


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create the group roles, schemas, grants and the row-security functions (idempotent)."""
    ddl = resources.files("innovation_pipeline").joinpath("sql/access.sql").read_text(encoding="utf-8")
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.access', 0))")
        conn.execute(ddl)


def state_role(conn: psycopg.Connection, state: str, base: str = "pipeline_analyst") -> str:
    """A group role that sees only ``state``'s rows in the marts (e.g. ``pipeline_analyst_co``)."""
    if not re.fullmatch(r"[A-Z]{2}", state) or base not in GROUP_ROLES:
        raise ValueError(f"not a state code or base role: {state!r}, {base!r}")
    role = f"{base}_{state.lower()}"
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.access', 0))")
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(
                sql.SQL("create role {} nologin in role {}").format(
                    sql.Identifier(role), sql.Identifier(base)
                )
            )
        conn.execute(
            "insert into access.state_scopes (role_name, state) values (%s, %s) on conflict do nothing",
            (role, state),
        )
    return role


def publish_marts(conn: psycopg.Connection, schema: str = "marts") -> list[str]:
    """Grant every table in ``schema`` to analysts, with the state policy where it has ``state``.

    dbt does this per model in a post-hook; this catches tables built any other way.
    """
    tables = [
        r[0]
        for r in conn.execute(
            "select format('%%I.%%I', schemaname, tablename) from pg_tables where schemaname = %s", (schema,)
        )
    ]
    for table in tables:
        conn.execute("select access.publish_mart(%s::regclass)", (table,))
    return tables
