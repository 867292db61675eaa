"""PostgreSQL roles and row-level security, created by code the project runs (idempotently).

- ``pipeline_loader`` writes the raw, audit and ref schemas;
- ``pipeline_transformer`` (dbt) reads them and builds staging, intermediate and marts;
- ``pipeline_analyst`` reads only the marts;
- ``pipeline_officer`` reads the marts and ``dq``.

People log in as their own roles, granted one of these. A state-scoped role (``state_role``) sees
only its states' rows in every mart that has a ``state`` column and, for officers, in ``dq``. It
holds the grants-only roles ``pipeline_mart_reader`` (and ``pipeline_dq_reader``), never
``pipeline_analyst`` itself, and the row policies look at the login as well as the role in effect,
so no ``SET ROLE`` widens what it sees.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg
from psycopg import sql

GROUP_ROLES = ("pipeline_loader", "pipeline_transformer", "pipeline_analyst", "pipeline_officer")


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create the group roles, schemas, grants and the row-security functions (idempotent)."""
    from innovation_pipeline.dq.schema import ensure_dq_schema

    ddl = resources.files("innovation_pipeline").joinpath("sql/access.sql").read_text(encoding="utf-8")
    # The dq tables exist before their row policies are set (a scoped officer reads dq through them).
    ensure_dq_schema(conn)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.access', 0))")
        conn.execute(ddl)


# What a state-scoped role of each base is granted: the grants-only roles, never the base itself
# (a member of pipeline_analyst could `set role pipeline_analyst` and see every state).
SCOPED_GRANTS = {
    "pipeline_analyst": ("pipeline_mart_reader",),
    "pipeline_officer": ("pipeline_mart_reader", "pipeline_dq_reader"),
}


def state_role(conn: psycopg.Connection, state: str, base: str = "pipeline_analyst") -> str:
    """A group role that sees only ``state``'s rows (e.g. ``pipeline_analyst_co``): in the marts,
    and for an officer base in ``dq``; whatever role its members ``set``, they see no other state."""
    if not re.fullmatch(r"[A-Z]{2}", state) or base not in SCOPED_GRANTS:
        raise ValueError(f"not a state code or a base role with state scopes: {state!r}, {base!r}")
    role = f"{base}_{state.lower()}"
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.access', 0))")
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        for granted in SCOPED_GRANTS[base]:
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(granted), sql.Identifier(role)))
        # A scoped role made before the grants-only roles was a member of its base: no longer.
        for (group,) in conn.execute(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
            " where m.member = %s::regrole and r.rolname = any(%s)",
            (role, list(GROUP_ROLES)),
        ).fetchall():
            conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(group), sql.Identifier(role)))
        conn.execute(
            "insert into access.state_scopes (role_name, state) values (%s, %s) on conflict do nothing",
            (role, state),
        )
    return role


def publish_marts(conn: psycopg.Connection, schema: str = "marts") -> list[str]:
    """Grant every table and view in ``schema`` to analysts, with the state policy where it has
    ``state`` (a view reads as its caller, so its tables' policies apply).

    dbt does this per model in a post-hook; this catches tables built any other way.
    """
    tables = [
        r[0]
        for r in conn.execute(
            "select format('%%I.%%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm') order by 1",
            (schema,),
        )
    ]
    for table in tables:
        conn.execute("select access.publish_mart(%s::regclass)", (table,))
    return tables


# --- the officers' report in Airflow ---------------------------------------------------------------


def scope_key(states: frozenset[str]) -> str:
    """The folder name of the report built for these states: 'CO', 'CO+KY'."""
    return "+".join(sorted(states))


def set_report_scope(conn: psycopg.Connection, user: str, states: list[str]) -> None:
    """Show the Airflow user ``user`` only these states' data-quality report (replacing any scope
    it had); an empty list removes the scope, and the user sees the statewide report again."""
    if not user.strip():
        raise ValueError("an Airflow user name is needed")
    bad = [s for s in states if not re.fullmatch(r"[A-Z]{2}", s)]
    if bad:
        raise ValueError(f"not a state code: {', '.join(map(repr, bad))}")
    with conn.transaction():
        conn.execute("delete from access.report_viewers where airflow_user = %s", (user,))
        for state in sorted(set(states)):
            conn.execute(
                "insert into access.report_viewers (airflow_user, state) values (%s, %s)", (user, state)
            )


def report_scopes(conn: psycopg.Connection) -> dict[str, frozenset[str]]:
    """Every Airflow user with a state scope, and its states (no table yet: nobody is scoped)."""
    if not conn.execute("select to_regclass('access.report_viewers')").fetchone()[0]:  # type: ignore[index]
        return {}
    scopes: dict[str, set[str]] = {}
    for user, state in conn.execute("select airflow_user, state from access.report_viewers"):
        scopes.setdefault(user, set()).add(state)
    return {user: frozenset(states) for user, states in scopes.items()}
