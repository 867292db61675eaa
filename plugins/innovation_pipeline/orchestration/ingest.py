"""One ingest DAG per submission contract: the DAG factory.

Reading ``programs/*.yml`` is the whole configuration: each contract becomes a DAG
``ingest_<source>`` with the contract's schedule, owner and retries. A run lists the new files in
the source's inbox, lands them in batches (:mod:`.landing_tasks`; related deliveries in arrival
order, :mod:`.delivery_order`), validates the landed rows with Great Expectations
(:mod:`.ingest_checks`) and then updates the source's raw Asset, which schedules the marts DAG. A
run triggered with ``{"reprocess": true}`` re-lands the source's archive under the current
contract instead (:mod:`innovation_pipeline.reprocess`), through the same validation and Asset.

A rejected file never stops the other files of its batch; the ``rejected_files`` task then fails,
naming every rejected file, without retries (the same bytes fail the same way). The tasks after it
run whatever it did (trigger rule ``all_done``), so a run whose only failures are rejected files
still succeeds, and the files that loaded reach the marts.
"""

from __future__ import annotations

import logging
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

from innovation_pipeline.contracts import Contract, ContractError, contract_paths, load_contract
from innovation_pipeline.orchestration import callbacks, config, docs
from innovation_pipeline.orchestration.ingest_checks import check_due_date, run_date, validate_landed
from innovation_pipeline.orchestration.landing_tasks import (
    batch_label,
    batches,
    find_new_files,
    land_batch,
    rejected_outcomes,
    rejection_recorder,
    reprocess_archive,
    reprocess_requested,
)

log = logging.getLogger(__name__)


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
