"""The ``dq`` schema: every validation run, every expectation result, a few masked example rows.

History is kept (runs are only ever added), so a program officer can see whether a district's
submissions got better from one year to the next. ``dbt``'s ``submission_quality`` model joins
``dq.validation_runs`` and ``dq.expectation_results``; keep those column names stable.
"""

from __future__ import annotations

from importlib import resources
from typing import Any


def ddl() -> str:
    """The statements that create the ``dq`` schema (``sql/dq_schema.sql``, the one copy of them)."""
    return resources.files("innovation_pipeline").joinpath("sql/dq_schema.sql").read_text(encoding="utf-8")


def ensure_dq_schema(conn: Any) -> None:
    """Create the ``dq`` schema and its tables if missing; safe to call on every run.

    ``conn`` is a psycopg connection. An advisory lock keeps parallel Airflow tasks from racing
    on the first ``create``.
    """
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('innovation_pipeline.dq.schema'))")
        conn.execute(ddl())
