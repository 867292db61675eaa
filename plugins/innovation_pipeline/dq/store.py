"""Write validation outcomes into the ``dq`` schema (never updating or deleting: history is kept)."""

from __future__ import annotations

import os
from typing import Any

from psycopg.types.json import Jsonb

from innovation_pipeline.dq.outcomes import SuiteOutcome


def record(
    conn: Any,
    outcome: SuiteOutcome,
    *,
    kind: str,
    source: str | None = None,
    program: str | None = None,
    submission_id: int | None = None,
) -> int:
    """Store one validation run with its expectation results and example rows; returns its run_id."""
    with conn.transaction():
        run_id = conn.execute(
            """
            insert into dq.validation_runs
                (suite_name, kind, source, program, submission_id, asset_name, success, evaluated,
                 successful, unsuccessful, gx_result_id, error_message, dag_id, dag_run_id)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            returning run_id
            """,
            (
                outcome.suite_name,
                kind,
                source,
                program,
                submission_id,
                outcome.asset_name,
                outcome.success,
                outcome.evaluated,
                outcome.successful,
                outcome.unsuccessful,
                outcome.gx_result_id,
                outcome.error_message,
                # Airflow exports these into every task's environment; they tie a run to its DAG run.
                os.environ.get("AIRFLOW_CTX_DAG_ID"),
                os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"),
            ),
        ).fetchone()[0]
        for r in outcome.results:
            result_id = conn.execute(
                """
                insert into dq.expectation_results
                    (run_id, expectation_type, check_id, column_name, success, observed_value, element_count,
                     unexpected_count, unexpected_percent, description, message, expectation_kwargs,
                     exception_message)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                returning result_id
                """,
                (
                    run_id,
                    r.expectation_type,
                    r.check_id,
                    r.column_name,
                    r.success,
                    r.observed_value,
                    r.element_count,
                    r.unexpected_count,
                    r.unexpected_percent,
                    r.description,
                    r.message,
                    Jsonb(r.kwargs),
                    r.exception_message,
                ),
            ).fetchone()[0]
            for n, row in enumerate(r.examples, start=1):
                source_row = row.get("_source_row", row.get("first_row"))
                conn.execute(
                    "insert into dq.example_rows (run_id, result_id, example_no, source_row, row_values)"
                    " values (%s, %s, %s, %s, %s)",
                    (run_id, result_id, n, source_row if isinstance(source_row, int) else None, Jsonb(row)),
                )
    return int(run_id)
