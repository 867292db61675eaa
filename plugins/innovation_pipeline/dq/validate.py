"""Validate landed submissions and built marts, and store every result in the ``dq`` schema."""

from __future__ import annotations

import logging
import math
from typing import Any

from innovation_pipeline import warehouse
from innovation_pipeline.contracts import Contract, load_contracts
from innovation_pipeline.dq import store
from innovation_pipeline.dq.outcomes import SuiteOutcome
from innovation_pipeline.dq.runner import Validator
from innovation_pipeline.dq.schema import ensure_dq_schema
from innovation_pipeline.dq.suites import ROW_COUNT_HIGH, ROW_COUNT_LOW, landing_suite, mart_suites

log = logging.getLogger(__name__)


class MartValidationError(RuntimeError):
    """A mart failed its suite; raised after the results are stored so the marts are not published as fresh."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        failed = [r for r in summary["runs"] if not r["success"]]
        lines = [
            f"{r['suite']}: {'; '.join(r['failed_checks']) or r.get('error') or 'failed'}" for r in failed
        ]
        super().__init__(f"{len(failed)} mart suite(s) failed validation:\n" + "\n".join(lines))


def _table_exists(conn: Any, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def _submission(conn: Any, submission_id: int) -> dict[str, Any] | None:
    if not _table_exists(conn, "audit.submissions"):
        return None
    row = conn.execute(
        "select submitter, school_year, status from audit.submissions where submission_id = %s",
        (submission_id,),
    ).fetchone()
    return None if row is None else {"submitter": row[0], "school_year": row[1], "status": row[2]}


def row_count_bounds(conn: Any, contract: Contract, submission: dict[str, Any] | None) -> dict[str, Any]:
    """Expected row-count band from the same submitter's previous school year (loaded rows)."""
    low: int = max(contract.min_rows, 1)
    high: int | None = None
    if submission and submission.get("school_year") is not None:
        previous = conn.execute(
            """
            select rows_loaded from audit.submissions
            where source = %s and submitter = %s and school_year = %s and status in ('loaded', 'superseded')
            order by (status = 'loaded') desc, received_at desc
            limit 1
            """,
            (contract.source, submission["submitter"], submission["school_year"] - 1),
        ).fetchone()
        if previous and previous[0]:
            low = max(low, math.floor(previous[0] * ROW_COUNT_LOW))
            # never below the contract's minimum, even when last year's file was itself too short
            high = max(low, math.ceil(previous[0] * ROW_COUNT_HIGH))
    return {"min_rows": low, "max_rows": high}


def _summary_of(outcome: SuiteOutcome, run_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "suite": outcome.suite_name,
        "run_id": run_id,
        "success": outcome.success,
        "evaluated": outcome.evaluated,
        "unsuccessful": outcome.unsuccessful,
        "failed_checks": [r.message or r.expectation_type for r in outcome.results if not r.success],
        "error": outcome.error_message,
        **extra,
    }


def validate_landing(contract: Contract, submission_ids: list[int]) -> dict[str, Any]:
    """Run the source's raw-landing suite against each submission, store the results, return a summary.

    Rejected and duplicate submissions landed no rows and are skipped. A failing check does not
    raise: the rows are already landed and the report tells the program officer what to fix.
    """
    spec = landing_suite(contract)
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with warehouse.connect(autocommit=True) as conn:
        ensure_dq_schema(conn)
        validator: Validator | None = None
        for submission_id in dict.fromkeys(int(s) for s in submission_ids):
            submission = _submission(conn, submission_id)
            if submission and submission["status"] not in {"loaded", "superseded"}:
                skipped.append({"submission_id": submission_id, "status": submission["status"]})
                continue
            validator = validator or Validator()
            params = row_count_bounds(conn, contract, submission)
            outcome = validator.run(spec, {"_submission_id": submission_id}, params, contract)
            run_id = store.record(
                conn,
                outcome,
                kind="landing",
                source=contract.source,
                program=contract.program,
                submission_id=submission_id,
            )
            runs.append(_summary_of(outcome, run_id, submission_id=submission_id))
            log.info(
                "%s submission %s: %s (%d of %d checks failed)",
                spec.name,
                submission_id,
                "passed" if outcome.success else "FAILED",
                outcome.unsuccessful,
                outcome.evaluated,
            )
    return {
        "source": contract.source,
        "suite": spec.name,
        "success": all(r["success"] for r in runs),
        "runs": runs,
        "skipped": skipped,
    }


def coverage_of(contracts: dict[str, Contract], delivered: set[tuple[str, str]]) -> dict[str, list[str]]:
    """What the marts must cover, given the (source, submitter) pairs that delivered rows.

    Only what has been received is expected: a contract with no submission yet (a program just
    onboarded, a state whose outcome file has not come) is expected nowhere, so it never blocks the
    other programs' marts. ``expected_outcome_states`` are the states of delivered outcome feeds (a
    feed spanning states, ``state: US``, is sent by each state as its submitter).
    """
    received = [(contracts[s], submitter) for s, submitter in delivered if s in contracts]
    programs = sorted({c.program for c, _ in received if c.kind == "program"})
    states = sorted({c.state for c, _ in received if c.kind == "program" and c.state != "US"})
    outcome_states = sorted(
        {
            c.state if c.state != "US" else submitter.upper()
            for c, submitter in received
            if c.kind == "outcomes"
        }
    )
    return {
        "expected_programs": programs,
        "expected_states": states,
        "expected_outcome_states": outcome_states,
    }


def expected_coverage(conn: Any, contracts: dict[str, Contract] | None = None) -> dict[str, list[str]]:
    """:func:`coverage_of` the submissions loaded with at least one row in the marts' snapshot
    (staging's view of ``audit.submissions`` reads as of the build being validated)."""
    contracts = contracts if contracts is not None else load_contracts()
    # Before dbt has built staging there is no snapshot view: read what has been recorded.
    (view,) = conn.execute("select to_regclass('staging.stg_audit__submissions') is not null").fetchone()
    table = "staging.stg_audit__submissions" if view else "audit.submissions"
    rows = conn.execute(
        f"select distinct source, submitter from {table} where status = 'loaded' and rows_loaded > 0"  # noqa: S608
    ).fetchall()
    return coverage_of(contracts, {(source, submitter) for source, submitter in rows})


def validate_marts() -> dict[str, Any]:
    """Run every mart suite, store the results, and raise MartValidationError if any mart failed."""
    specs = mart_suites()
    runs: list[dict[str, Any]] = []
    with warehouse.connect(autocommit=True) as conn:
        ensure_dq_schema(conn)
        params = expected_coverage(conn)
        validator = Validator()
        for spec in specs:
            outcome = validator.run(spec, None, params)
            run_id = store.record(conn, outcome, kind="mart", program=None)
            runs.append(_summary_of(outcome, run_id, table=outcome.asset_name))
            log.info("%s: %s", spec.name, "passed" if outcome.success else "FAILED")
    summary = {"success": all(r["success"] for r in runs), "runs": runs}
    if not summary["success"]:
        raise MartValidationError(summary)
    return summary
