"""One ingest DAG per submission contract, and the task functions those DAGs run.

Reading ``programs/*.yml`` is the whole configuration: each contract becomes a DAG
``ingest_<source>`` with the contract's schedule, owner and retries. A run lists the new files in
the source's inbox, lands them in batches (one mapped task per batch of up to
``PIPELINE_LOAD_BATCH_FILES`` files, each file through the loader's ``land_file``, so the DAG and
``innovation-pipeline load`` share one code path), validates the landed rows with Great
Expectations and then updates the source's raw Asset, which schedules the marts DAG. A run
triggered with ``{"reprocess": true}`` re-lands the source's archive under the current contract
instead (:mod:`innovation_pipeline.reprocess`), through the same validation and Asset.

Batches, not a task per file: a task costs Airflow seconds of its own (a process, the DAG parsed
again, state round trips), which for a run of hundreds of small files was many times the landing
itself (benchmarks/RESULTS.md). Each file's outcome stays visible: the batch task logs it, returns
it (XCom) and names its files and rejections in its map index; a rejected file is recorded in
``audit.task_failures`` with the loader's reason and never stops the other files of its batch;
the ``rejected_files`` task then fails, naming every rejected file, without retries (the same
bytes fail the same way). The tasks after it run whatever it did (trigger rule ``all_done``), so
a run whose only failures are rejected files still succeeds, and the files that loaded reach the
marts.

Kept as one module for now (issue 20): the task functions and the DAG factory read together, and
the loader's performance work is changing this module; a split waits until that lands.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import (  # type: ignore[attr-defined]  # DeadlineAlert/Reference: lazy exports
    DAG,
    DeadlineAlert,
    DeadlineReference,
    Param,
    TriggerRule,
    get_current_context,
    task,
)
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from innovation_pipeline.contracts import Contract, ContractError, contract_paths, load_contract, programs_dir
from innovation_pipeline.orchestration import callbacks, config, docs

log = logging.getLogger(__name__)


# --- task functions: plain Python, importable and testable without a DAG -----------------------


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


def submission_key(contract: Contract, name: str) -> tuple[str, int] | None:
    """(submitter, school year) as the file name gives them, or None when the name does not tell.

    Two files with the same key are the same submission delivered twice, or a correction of it.
    """
    from innovation_pipeline.mapping import filename_school_year

    match = contract.matches_file(name)
    if match is None or contract.school_year.source != "filename":
        return None
    groups = match.groupdict()
    try:
        year = filename_school_year(contract, groups.get("school_year"))
    except Exception:  # an unreadable year: the loader rejects the file, with the reason
        return None
    if year is None:
        return None
    return ((groups.get("submitter") or "").lower(), year)


def earlier_related(
    contract: Contract, file: dict[str, Any], files: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Files listed before ``file`` in this run that must land before it.

    The listing is in arrival order, and which of two deliveries counts (the loaded one and the
    duplicate, or the superseded one and its correction) follows landing order. File tasks may run
    in any order (and in parallel), so a file task first lands the earlier deliveries of the same
    bytes or the same submission; the loader makes landing a delivery twice a no-op.
    """
    key = submission_key(contract, file["name"])
    earlier = []
    for other in files:
        if other["name"] == file["name"] and other["sha256"] == file["sha256"]:
            break
        other_key = submission_key(contract, other["name"])
        if other["sha256"] == file["sha256"] or key is None or other_key is None or other_key == key:
            earlier.append(other)
    return earlier


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
) -> dict[str, Any]:
    """Archive, load and record one file through the loader; its outcome, rejected ones included.

    ``files`` is the run's listing: related deliveries listed earlier land first (see
    :func:`earlier_related`), so the outcome does not depend on the order the batch tasks run in.
    ``attempted`` names the files this task has landed already (they are not landed twice).
    A rejection is an outcome (``status`` ``rejected`` and the loader's reason), not an exception:
    the rest of the batch goes on. Other errors (the warehouse unreachable) raise.
    """
    from innovation_pipeline.landing import FileRejected

    contract = source_contract(source)
    done = attempted if attempted is not None else set()
    for other in earlier_related(contract, file, files or []):
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
    for file in batch:
        outcome = land_one(source, file, files, attempted=attempted)
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


# --- the DAG ---------------------------------------------------------------------------------


def _default_args(contract: Contract) -> dict[str, Any]:
    return {
        "owner": contract.owner,
        "retries": contract.retries,
        "retry_delay": config.retry_delay(),
        "execution_timeout": config.task_timeout(),
        "on_failure_callback": callbacks.failure_callbacks(),
        # Landing files goes before rebuilding marts: with few task slots (a first start, every
        # inbox full), the marts tasks' default downstream weights (up to ~55) would otherwise
        # starve the file tasks, and each marts run would start before the next file landed.
        "priority_weight": config.INGEST_PRIORITY,
        "weight_rule": "absolute",
    }


def _deadline(source: str) -> DeadlineAlert | None:
    interval = config.run_deadline()
    if interval is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(
            callbacks.record_missed_deadline,
            kwargs={"source": source, "minutes": int(interval.total_seconds() // 60)},
        ),
    )


def tags_for(contract: Contract) -> list[str]:
    """Tags to filter DAGs by in the UI."""
    return ["ingest", f"state:{contract.state.lower()}", f"program:{contract.program}", contract.kind]


def build_ingest_dag(contract: Contract) -> DAG:
    """The ingest DAG of one contract."""
    source = contract.source
    with DAG(
        dag_id=config.ingest_dag_id(source),
        # The UI lists DAGs by the contract's title; the id stays what URLs and the CLI use.
        dag_display_name=contract.title,
        description=f"Land {contract.title} submissions into raw.{source}",
        doc_md=docs.ingest_doc(contract),
        # The contract's schedule, or at once when a file arrives in the inbox (inbox_watch.py).
        schedule=config.ingest_schedule(source, contract.schedule),
        start_date=config.START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=tags_for(contract),
        default_args=_default_args(contract),
        deadline=_deadline(source),
        params={
            "reprocess": Param(
                False,
                type="boolean",
                title="Reprocess the archive",
                description=(
                    "Land every archived file of this source again under the current contract and"
                    " district directory, each as a new version that supersedes the old (history"
                    " kept). New inbox files wait for the next ordinary run."
                ),
            )
        },
    ) as dag:

        @task(task_display_name="List new files")
        def list_new_files() -> list[list[dict[str, Any]]]:
            if reprocess_requested(get_current_context()):
                log.info("%s: a reprocess run lands the archive, not the inbox", source)
                return []
            # In batches: the batches are what the land task maps over (no task of its own).
            return batches(find_new_files(source))

        @task(task_display_name="Reprocess archived files")
        def reprocess() -> list[dict[str, Any]]:
            if not reprocess_requested(get_current_context()):
                raise AirflowSkipException('an ordinary run: trigger with {"reprocess": true} to re-land')
            return reprocess_archive(source)

        @task(
            task_display_name="Land files",
            pool=config.load_pool(),
            max_active_tis_per_dagrun=config.load_parallelism(),
            map_index_template="{{ batch_label }}",
        )
        def land(batch: list[dict[str, Any]], listing: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
            context = get_current_context()
            ti = context["ti"]
            label = batch_label(batch)
            context["batch_label"] = label  # type: ignore[typeddict-unknown-key]

            outcomes = land_batch(
                source, batch, [f for b in listing for f in b], on_rejected=rejection_recorder(ti)
            )
            bad = sum(o["status"] == "rejected" for o in outcomes)
            context["batch_label"] = label + (f", {bad} rejected" if bad else "")  # type: ignore[typeddict-unknown-key]
            return outcomes

        @task(task_display_name="Rejected files", trigger_rule=TriggerRule.ALL_DONE)
        def rejected_files(results: list[list[dict[str, Any]] | None]) -> int:
            bad = rejected_outcomes(list(results or []))
            if bad:
                # Failing here marks the run's rejections in red; each file's reason is its own line.
                raise AirflowFailException(
                    f"{len(bad)} file(s) rejected:\n" + "\n".join(o["message"] for o in bad)
                )
            return 0

        @task(task_display_name="Validate landed rows (GX)", trigger_rule=TriggerRule.ALL_DONE)
        def validate(
            listing: list[list[dict[str, Any]]] | None,
            results: list[list[dict[str, Any]] | None],
            relanded: list[dict[str, Any]] | None,
        ) -> dict[str, Any]:
            files = None if listing is None else [f for b in listing for f in b]
            return validate_landed(source, files, [*(results or []), relanded])

        @task(task_display_name="Publish raw asset", outlets=[config.raw_asset(source)])
        def publish(outcome: dict[str, Any]) -> dict[str, Any]:
            if not outcome["submission_ids"]:
                # No asset event, so the marts are not rebuilt for nothing.
                raise AirflowSkipException("no new submission was loaded")
            context = get_current_context()
            context["outlet_events"][config.raw_asset(source)].extra = {
                "submission_ids": outcome["submission_ids"],
                "rows_loaded": outcome["rows_loaded"],
            }
            return outcome

        @task(task_display_name="Check due date", trigger_rule=TriggerRule.ALL_DONE)
        def due_date() -> dict[str, Any]:
            return check_due_date(source, run_date(get_current_context()))

        files = list_new_files()
        landed = land.partial(listing=files).expand(batch=files)
        # TaskFlow passes XComArgs, which Airflow resolves to the task's values when it runs.
        publish(validate(files, landed, reprocess()))  # type: ignore[arg-type]
        rejected_files(landed) >> due_date()  # type: ignore[arg-type]
    return dag


def build_broken_dag(source: str, error: str) -> DAG:
    """A stand-in DAG for a contract that does not validate, so the error shows in the UI.

    One broken contract must not take every other program's DAG down with it.
    """
    with DAG(
        dag_id=config.ingest_dag_id(source),
        dag_display_name=f"{source}: invalid contract",
        description=f"Contract programs/{source}.yml is invalid",
        doc_md=f"# Invalid contract `programs/{source}.yml`\n\n```\n{error}\n```\n",
        schedule=None,
        start_date=config.START_DATE,
        catchup=False,
        tags=["ingest", "broken-contract"],
        default_args={"owner": "state-data-team", "retries": 0},
    ) as dag:

        @task(task_display_name="Contract error")
        def contract_error() -> None:
            raise AirflowFailException(error)

        contract_error()
    return dag


def build_ingest_dags(folder: Path | None = None, only_dag_id: str | None = None) -> dict[str, DAG]:
    """One DAG per contract in ``programs/``, keyed by DAG id.

    ``only_dag_id`` (from Airflow's parsing context when a task starts) builds just that DAG.
    """
    dags: dict[str, DAG] = {}
    for path in contract_paths(folder):
        dag_id = config.ingest_dag_id(path.stem)
        if only_dag_id and dag_id != only_dag_id:
            continue
        try:
            contract = load_contract(path)
        except ContractError as exc:
            log.error("%s", exc)
            dags[dag_id] = build_broken_dag(path.stem, str(exc))
            continue
        dags[dag_id] = build_ingest_dag(contract)
    return dags
