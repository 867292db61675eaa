"""What an ingest DAG checks after landing: GX validation of the landed rows, the due date."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from innovation_pipeline.orchestration.landing_tasks import source_contract

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    # XCom stores JSON; dates and decimals in a validation summary become strings.
    return json.loads(json.dumps(value, default=str))


def validate_landed(
    source: str, files: list[dict[str, Any]] | None, results: list[list[dict[str, Any]] | None]
) -> dict[str, Any]:
    """Validate the rows of this run's loaded submissions with Great Expectations.

    ``files`` is what the listing task found (None when it failed: this task runs whatever its
    upstream did, so it must fail the run itself); ``results`` holds the outcomes of each batch
    task that succeeded (a batch whose task failed is missing, and its files count as failed).
    """
    if files is None:
        raise AirflowFailException(f"listing the {source} inbox failed; see the list_new_files task")
    outcomes = [r for batch in results if batch for r in batch if r]
    done = [r for r in outcomes if r.get("status") != "rejected"]
    loaded = [r for r in done if r.get("status") == "loaded"]
    ids = sorted(int(r["submission_id"]) for r in loaded)
    landed_names = {r["file"] for r in done}
    listed = {f["name"] for f in files}
    outcome: dict[str, Any] = {
        "source": source,
        "submission_ids": ids,
        "files_loaded": [r["file"] for r in loaded],
        "files_duplicate": [r["file"] for r in done if r.get("status") == "duplicate"],
        # Listed files that did not land, and archived files a reprocess run found still rejected.
        "files_failed": [f["name"] for f in files if f["name"] not in landed_names]
        + [r["file"] for r in outcomes if r.get("status") == "rejected" and r["file"] not in listed],
        "rows_loaded": sum(int(r.get("rows_loaded") or 0) for r in loaded),
        "rows_quarantined": sum(int(r.get("rows_quarantined") or 0) for r in loaded),
    }
    if outcome["files_failed"]:
        log.warning("%s: file(s) that did not land: %s", source, ", ".join(outcome["files_failed"]))
    if not ids:
        log.info("%s: no new submission loaded in this run; nothing to validate", source)
        outcome["validation"] = None
        return outcome
    from innovation_pipeline.dq import validate_landing

    outcome["validation"] = _jsonable(validate_landing(source_contract(source), ids))
    log.info("%s: validated submissions %s", source, ids)
    return outcome


def check_due_date(source: str, on: dt.date) -> dict[str, Any]:
    """Compare what was received with the contract's latest due date; log when it is overdue."""
    from innovation_pipeline.orchestration.due import check_due
    from innovation_pipeline.warehouse import connect

    with connect(autocommit=True) as conn:
        status = check_due(source_contract(source), on, conn)
    (log.warning if status.overdue else log.info)("%s", status.summary())
    return status.as_dict()


def run_date(context: Any) -> dt.date:
    """The date a run stands for: its logical date, else (asset or manual runs) when it was due to run."""
    when = context.get("logical_date") or context.get("data_interval_end")
    if when is None:
        dag_run = context.get("dag_run")
        when = getattr(dag_run, "run_after", None)
    return (when or dt.datetime.now(dt.UTC)).date()
