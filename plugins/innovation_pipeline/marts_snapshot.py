"""Marts snapshots: every marts build reads the landing zone as of one submission id.

dbt builds each model in its own transaction, so without a snapshot a resubmission that commits
while the marts build runs could reach some marts and not others. Instead a build first pins the
highest submission id it may read (``audit.take_marts_snapshot``, a row of ``audit.marts_builds``);
staging reads each submission as it stood at the latest build's snapshot
(``dbt_project/macros/snapshot.sql``), and later submissions wait for the next build. The marts
DAG pins once per run and hands the id to every dbt task, which checks at on-run-start that no
other build has pinned a different one since.

For the pinned id to mean "everything committed up to here", loads and snapshots meet at one
advisory lock, the fence: a transaction that records submissions holds it shared until it commits,
and taking a snapshot holds it exclusively while reading the highest id. Submission ids come from a
sequence, so a load that starts after the snapshot gets a higher id.
"""

from __future__ import annotations

import psycopg

from innovation_pipeline.warehouse import connect

FENCE = "innovation.marts_snapshot"
#: The dbt variable that pins a build's snapshot (set by the marts DAG for every Cosmos task).
DBT_VAR = "as_of_submission_id"


def hold_load_fence(conn: psycopg.Connection) -> None:
    """Call first in a transaction that records submissions: a snapshot waits for it to end."""
    conn.execute("select pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", (FENCE,))


def take_marts_snapshot(
    build_id: str, requested_by: str | None = None, conn: psycopg.Connection | None = None
) -> int:
    """Pin the submission id that build ``build_id`` reads up to, making it the current snapshot.

    A retried build (same id, nothing pinned since) gets its snapshot back; re-running a build after
    a newer one pinned raises, since it would take the marts back in time.
    """
    if conn is None:
        with connect(autocommit=True) as own:
            return take_marts_snapshot(build_id, requested_by, own)
    with conn.transaction():
        row = conn.execute("select audit.take_marts_snapshot(%s, %s)", (build_id, requested_by)).fetchone()
    assert row is not None
    return int(row[0])
