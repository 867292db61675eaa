"""What an ingest DAG's listing, land and reprocess tasks do: plain functions, testable without a DAG.

A run lands files in batches (one mapped task per batch of up to ``PIPELINE_LOAD_BATCH_FILES``
files, each file through the loader's ``land_file``, so the DAG and ``innovation-pipeline load``
share one code path). Batches, not a task per file: a task costs Airflow seconds of its own (a
process, the DAG parsed again, state round trips), many times the landing of a small file. Each
file's outcome stays visible: the batch task logs it, returns it (XCom) and names its files in its
map index; a rejected file is an outcome, recorded in ``audit.task_failures`` with the loader's
reason, and never stops the other files of its batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from innovation_pipeline.contracts import Contract, load_contract, programs_dir
from innovation_pipeline.orchestration import callbacks
from innovation_pipeline.orchestration.delivery_order import SubmissionKeys, earlier_related, submission_keys

log = logging.getLogger(__name__)


def source_contract(source: str) -> Contract:
    """The contract of a source, read afresh when a task runs."""
    return load_contract(programs_dir() / f"{source}.yml")


def find_new_files(source: str) -> list[dict[str, Any]]:
    """Files in the source's inbox that no submission of this source has recorded yet.

    It also makes sure ``raw.<source>`` and the audit tables exist (the loader's idempotent DDL), so
    that dbt finds every source's table even before its first file arrives.
    """
    from innovation_pipeline.landing import ensure_landing_schema, ensure_raw_table
    from innovation_pipeline.orchestration import inbox
    from innovation_pipeline.warehouse import connect

    listed = inbox.list_inbox(source)
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        ensure_raw_table(conn, source_contract(source))
        fresh = inbox.new_files(source, listed, conn)
    log.info(
        "%s: %d file(s) in %s, %d new: %s",
        source,
        len(listed),
        inbox.inbox(source),
        len(fresh),
        ", ".join(f["name"] for f in fresh) or "none",
    )
    return fresh


def _received_at(file: dict[str, Any]) -> dt.datetime | None:
    # When the file reached the inbox, not when a copy of a remote file was made.
    return dt.datetime.fromtimestamp(file["modified"], tz=dt.UTC) if file.get("modified") else None


def _land(contract: Contract, file: dict[str, Any]) -> Any:
    from innovation_pipeline.landing import land_file
    from innovation_pipeline.orchestration.inbox import local_copy

    with local_copy(file["uri"]) as path:
        return land_file(contract, path, original_name=file["name"], received_at=_received_at(file))


def _summary(file: dict[str, Any], result: Any, error: str | None = None, **extra: Any) -> dict[str, Any]:
    """One file's outcome as the run's XCom shows it; ``result`` None: rejected with ``error``."""
    return {
        "file": file["name"],
        "sha256": file.get("sha256"),
        **extra,
        "status": "rejected" if result is None else result.status,
        "submission_id": None if result is None else result.submission_id,
        "rows_received": None if result is None else result.rows_received,
        "rows_loaded": None if result is None else result.rows_loaded,
        "rows_quarantined": None if result is None else result.rows_quarantined,
        "rows_skipped": None if result is None else result.rows_skipped,
        "message": error if result is None else result.message,
    }


def _rejected(file: dict[str, Any], message: str) -> dict[str, Any]:
    return {"file": file["name"], "sha256": file["sha256"], "status": "rejected", "message": message}


def land_one(
    source: str,
    file: dict[str, Any],
    files: list[dict[str, Any]] | None = None,
    *,
    attempted: set[str] | None = None,
    contract: Contract | None = None,
    keys: SubmissionKeys | None = None,
) -> dict[str, Any]:
    """Archive, load and record one file through the loader; its outcome, rejected ones included.

    ``files`` is the run's listing: related deliveries listed earlier land first (see
    :func:`earlier_related`), so the outcome does not depend on the order the batch tasks run in.
    ``attempted`` names the files this task has landed already (they are not landed twice);
    ``contract`` and ``keys`` (the listing's submission keys) are the batch's, read once for it.
    A rejection is an outcome (``status`` ``rejected`` and the loader's reason), not an exception:
    the rest of the batch goes on. Other errors (the warehouse unreachable) raise.
    """
    from innovation_pipeline.landing import FileRejected

    contract = contract or source_contract(source)
    done = attempted if attempted is not None else set()
    for other in earlier_related(contract, file, files or [], keys):
        if other["name"] in done:
            continue
        try:
            _land(contract, other)
            log.info("%s arrived before %s and was landed first", other["name"], file["name"])
        except FileRejected:
            # That file's own batch reports the rejection; it does not concern this one.
            log.info("%s arrived before %s and was rejected (see its own batch)", other["name"], file["name"])
    done.add(file["name"])
    try:
        result = _land(contract, file)
    except FileRejected as exc:
        log.error("%s was rejected: %s", file["name"], exc)
        return _rejected(file, f"{file['name']} was rejected: {exc}")
    if result.status == "rejected":
        log.error("%s was rejected: %s", file["name"], result.message)
        return _rejected(file, f"{file['name']} was rejected: {result.message}")
    log.info(
        "%s: %s (submission %s): %s received, %s loaded, %s quarantined, %s skipped",
        file["name"],
        result.status,
        result.submission_id,
        result.rows_received,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_skipped,
    )
    return _summary(file, result)


def load_batch_files() -> int:
    """Files one land task lands (``PIPELINE_LOAD_BATCH_FILES``, default 100).

    Big enough that a task's own cost (seconds) is small beside its files' landing; batches still
    let ``PIPELINE_LOAD_PARALLELISM`` land a large delivery on several workers at once.
    """
    return max(1, int(os.environ.get("PIPELINE_LOAD_BATCH_FILES") or 100))


def batches(files: list[dict[str, Any]], size: int | None = None) -> list[list[dict[str, Any]]]:
    """The listing cut into batches of ``size`` files (``PIPELINE_LOAD_BATCH_FILES``), in arrival order."""
    size = size or load_batch_files()
    return [files[i : i + size] for i in range(0, len(files), size)]


def batch_label(batch: list[dict[str, Any]]) -> str:
    """What the batch's task shows as its map index: its files, first and last."""
    if len(batch) == 1:
        return batch[0]["name"]
    return f"{batch[0]['name']} … {batch[-1]['name']} ({len(batch)} files)"


def land_batch(
    source: str,
    batch: list[dict[str, Any]],
    files: list[dict[str, Any]] | None = None,
    on_rejected: Any = None,
) -> list[dict[str, Any]]:
    """Land each file of ``batch`` in order; one outcome per file (see :func:`land_one`).

    ``on_rejected(outcome)`` is called for each rejected file (the DAG records it in
    ``audit.task_failures``), after which the next file lands.
    """
    attempted: set[str] = set()
    outcomes = []
    contract = source_contract(source)
    keys = submission_keys(contract, files or [])
    for file in batch:
        outcome = land_one(source, file, files, attempted=attempted, contract=contract, keys=keys)
        if outcome["status"] == "rejected" and on_rejected is not None:
            on_rejected(outcome)
        outcomes.append(outcome)
    return outcomes


def rejection_recorder(ti: Any) -> Any:
    """What a land task calls for each rejected file: one ``audit.task_failures`` row per file, the
    way the data-quality report lists them."""

    def record(outcome: dict[str, Any]) -> None:
        callbacks.record_failure(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
            try_number=ti.try_number,
            message=outcome["message"],
        )

    return record


def rejected_outcomes(results: list[list[dict[str, Any]] | None]) -> list[dict[str, Any]]:
    """The rejected files among the batch tasks' outcomes."""
    return [o for batch in results if batch for o in batch if o.get("status") == "rejected"]


def reprocess_archive(source: str) -> list[dict[str, Any]]:
    """Land every archived file of ``source`` again under its current contract (a reprocess run).

    One task does it in receiving order, as ``innovation-pipeline reprocess`` does: each file
    becomes a new version superseding the one it replaces. A file still rejected is reported in
    the log and in the run's outcome; it does not stop the others.
    """
    from innovation_pipeline.reprocess import reprocess_source

    done = reprocess_source(source_contract(source))
    summaries = []
    for item in done:
        (log.warning if item.result is None else log.info)("%s", item.summary())
        summaries.append(_summary({"name": item.file_name}, item.result, item.error, replaces=item.replaced))
    log.info("%s: %d archived file(s) landed again", source, len(done))
    return summaries


def reprocess_requested(context: Any) -> bool:
    """Whether this run was triggered as a reprocess run (``{"reprocess": true}``).

    Read from the run's conf, not from ``params``: Airflow merges a conf into the DAG's shared
    Param objects, so in one process (``dag.test()``) a reprocess run's value leaks into the next.
    """
    dag_run = context.get("dag_run")
    return bool((getattr(dag_run, "conf", None) or {}).get("reprocess"))
