"""Everything the warehouse needs before dbt runs, in one idempotent call.

The landing schemas and district directory, a raw table for every contract (so a source that has
not received a file yet is an empty table, not a missing one), the ``dq`` tables, and the roles
with their grants and row-level security functions.
"""

from __future__ import annotations

import psycopg

from innovation_pipeline.access import ensure_roles
from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.landing import ensure_landing_schema, ensure_raw_table
from innovation_pipeline.warehouse import connect


def prepare_warehouse(conn: psycopg.Connection | None = None) -> list[str]:
    """Create what dbt and the analysts' roles rely on; returns the raw tables ensured."""
    from innovation_pipeline.dq import ensure_dq_schema

    if conn is None:
        with connect(autocommit=True) as own:
            return prepare_warehouse(own)
    ensure_landing_schema(conn)
    contracts = load_contracts()
    for contract in contracts.values():
        ensure_raw_table(conn, contract)
    ensure_dq_schema(conn)
    ensure_roles(conn)
    return sorted(c.raw_table for c in contracts.values())
