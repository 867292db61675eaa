"""The marts DAG (dbt through Cosmos, GX validation of the marts) and the docs DAG after it.

``build_marts`` is scheduled on the raw Assets of every source (any one of them updating triggers
it), and it updates the marts Asset only when dbt's models and tests and the GX checks all passed.
Whatever its outcome, it ends by updating the ``marts_checked`` Asset, which starts
``publish_docs``: dbt's docs site, GX's Data Docs and the data-quality report. Those take longer
than the build's own checks, and nothing waits on them, so they run outside the build's run
(benchmarks/RESULTS.md, the Airflow section).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, AssetAny, TriggerRule, task

from innovation_pipeline.contracts import contract_paths
from innovation_pipeline.marts_snapshot import DBT_VAR as DBT_SNAPSHOT_VAR
from innovation_pipeline.orchestration import callbacks, config, dbt_project, docs, marts_selection

log = logging.getLogger(__name__)

MARTS_OWNER = "state-data-team"
MARTS_RETRIES = 1


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def validate_marts() -> dict[str, Any]:
    """Run the marts checkpoint; it raises when a mart fails, which fails the task."""
    from innovation_pipeline import dq

    return _jsonable(dq.validate_marts())


def build_report() -> str:
    """Write the data-quality report; returns where it is."""
    from innovation_pipeline import dq

    # The report owns its folder under the output dir (output/report/index.html).
    where = str(dq.build_report())
    log.info("data-quality report written to %s", where)
    return where


#: Every dbt task of a run reads the landing zone as of the submission id ``prepare`` pinned, so a
#: resubmission landing mid-build reaches all the marts or none (marts_snapshot.py).
SNAPSHOT_VARS = {
    DBT_SNAPSHOT_VAR: "{{ ti.xcom_pull(task_ids='prepare')['" + DBT_SNAPSHOT_VAR + "'] }}",
}


def prepare_build(run_id: str) -> dict[str, Any]:
    """Prepare the warehouse for dbt, pin this run's snapshot (the same one when retried) and plan
    which models the build runs: those downstream of what changed since the last finished build
    (marts_selection.py; the dbt producer reads the plan from this XCom)."""
    from innovation_pipeline.marts_snapshot import take_marts_snapshot
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    tables = prepare_warehouse()
    as_of = take_marts_snapshot(f"airflow:{config.MARTS_DAG_ID}:{run_id}", "Airflow build_marts")
    log.info("this build reads submissions up to id %s; later ones wait for the next run", as_of)
    plan = marts_selection.plan_build(as_of, {DBT_SNAPSHOT_VAR: as_of})
    log.info("dbt build %s: %s", " ".join(plan.dbt_args()) or "of every model", plan.reason)
    return {DBT_SNAPSHOT_VAR: as_of, "raw_tables": tables, marts_selection.PLAN_XCOM_KEY: plan.to_xcom()}


def _transform_args() -> dict[str, Any]:
    queue = config.transform_queue()
    return {"queue": queue} if queue else {}


def profile_config() -> Any:
    """dbt's profile: ``dbt_project/profiles.yml``, which reads the ``WAREHOUSE_*`` variables.

    ``innovation_pipeline.settings.airflow_environment()`` exports them (with the Airflow connection
    ``warehouse``) from the one warehouse locator, so credentials live in one place. A Cosmos profile
    mapping from that connection is not used because it requires a password, which the embedded
    warehouse (a unix socket with trust auth) does not have.
    """
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name=dbt_project.profile_name(),
        target_name=dbt_project.target_name(),
        profiles_yml_filepath=dbt_project.profiles_path(),
    )


def dbt_execution_mode() -> str:
    """How Cosmos runs dbt (``PIPELINE_DBT_EXECUTION_MODE``): ``watcher`` (default) or ``local``.

    ``watcher``: one ``dbt build`` of the whole project in a producer task, and per seed and model
    (and per model's tests) a light task that reports that node's result from the build (Cosmos
    watcher mode); the node tasks only read the producer's results (figures in
    benchmarks/RESULTS.md, the Airflow section). ``local``: one dbt invocation per task, each paying
    dbt's start-up and parsing again.
    """
    value = (os.environ.get("PIPELINE_DBT_EXECUTION_MODE") or "watcher").strip().lower()
    if value not in ("watcher", "local"):
        raise ValueError(f"PIPELINE_DBT_EXECUTION_MODE must be watcher or local, not {value!r}")
    return value


def _test_behavior(behaviors: Any) -> Any:
    # In watcher mode the producer's ``dbt build`` runs every test in dbt's own order (a model's
    # tests before the models built on it); a task per model reports its tests, at no extra dbt
    # run. ``after_all`` there would run the whole test suite a second time, in a task of its own.
    if dbt_execution_mode() == "watcher":
        return behaviors.AFTER_EACH
    return behaviors(config.dbt_test_behavior())


def dbt_task_group(manifest: Path) -> Any:
    """The Cosmos task group: seeds, source freshness, then each model and its tests."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (
        ExecutionMode,
        InvocationMode,
        LoadMode,
        SourceRenderingBehavior,
        TestBehavior,
    )

    project = dbt_project.project_dir()
    return DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=project,
            manifest_path=manifest,
            install_dbt_deps=False,
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER
            if dbt_execution_mode() == "watcher"
            else ExecutionMode.LOCAL,
            # Watcher: dbt in a process of its own. In-process (dbtRunner), Cosmos turns every
            # dbt event, debug ones included, into JSON in the task's own process to find the
            # node results; a subprocess writes only the info-level lines, on the other core.
            invocation_mode=InvocationMode.SUBPROCESS
            if dbt_execution_mode() == "watcher"
            else InvocationMode.DBT_RUNNER,
            dbt_executable_path=dbt_project.dbt_executable(),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=_test_behavior(TestBehavior),
            # In watcher mode a source task would make the producer run ``dbt source freshness``
            # before its build (a second dbt invocation, a fifth of the build's time here); the
            # source tests still run in the build.
            source_rendering_behavior=SourceRenderingBehavior.NONE
            if dbt_execution_mode() == "watcher"
            else SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
            # Local mode, after_each: a test with several parents (a relationships test from a fact
            # to a dimension) gets a task of its own after all of them; run with one parent's
            # tests, it would query a table the other parent has not built yet. In watcher mode
            # dbt itself orders the tests (the producer runs them all), and a detached test would
            # only add a task (about a second each) to report it.
            should_detach_multiple_parents_tests=dbt_execution_mode() != "watcher",
            # The marts publish one Asset of their own once validated; per-model datasets would
            # announce models GX has not checked yet.
            emit_datasets=False,
        ),
        # The queue is set on every task of the group afterwards (on_transform_queue), Cosmos's own too.
        # The hooks act on the watcher producer only: it builds what prepare's plan selects, and
        # records the build once it succeeded (marts_selection.py).
        operator_args={
            "install_deps": False,
            "vars": SNAPSHOT_VARS,
            # No manifest.json or run_results.json from the build: Cosmos reads the build's results
            # from dbt's events, the DAG from the parsed manifest, and writing the 1.7 MB manifest
            # again took dbt 0.2-0.3 s of every build.
            "dbt_cmd_global_flags": ["--no-write-json"],
            "pre_execute": marts_selection.cosmos_pre_execute,
            "post_execute": marts_selection.cosmos_post_execute,
        },
    )


def report_after_build(group: Any) -> None:
    """Start the per-node watcher tasks once the producer's ``dbt build`` has ended.

    Cosmos lets them start beside the producer and wait in the triggerer for their node; but
    ``dag.test()`` (the demo, the tests) runs one task at a time, so a node task that starts first
    waits forever for a build that never starts. After the build each one finds its node's result
    at its first look, needs no triggerer, and leaves the two cores to dbt while it builds.
    ``all_done``: when the build fails, each node task still reports its own node's outcome.
    ``none_failed`` on the others: a node the build's selection left out ends skipped, and a
    node built after it (a table on a view the selection leaves alone) still reports its own.
    """
    tasks = _tasks_of(group)
    ids = {t.task_id for t in tasks}
    producer = next(t for t in tasks if t.task_id.endswith(".dbt_producer_watcher"))
    for node in tasks:
        if node is producer or node.task_id in producer.downstream_task_ids:
            continue
        if not ids & set(node.upstream_task_ids):
            producer >> node
            node.trigger_rule = TriggerRule.ALL_DONE
        else:
            node.trigger_rule = TriggerRule.NONE_FAILED


def on_transform_queue(group: Any) -> None:
    """Every task of the dbt group on the transform queue, the ones Cosmos adds itself too (the
    watcher's ``dbt_producer_watcher_done``), which ``operator_args`` does not reach."""
    queue = config.transform_queue()
    if queue:
        for task in _tasks_of(group):
            task.queue = queue


def _tasks_of(group: Any) -> list[Any]:
    """Every task in ``group`` and its nested groups (a model's run and test tasks)."""
    out = []
    for child in group.children.values():
        out.extend(_tasks_of(child) if hasattr(child, "children") else [child])
    return out


def _marts_dag_args() -> dict[str, Any]:
    """What the marts DAG and the docs DAG it starts share: no catch-up, one run at a time, owner,
    retries and the failure callbacks."""
    return {
        "start_date": config.START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {
            "owner": MARTS_OWNER,
            "retries": MARTS_RETRIES,
            "retry_delay": config.retry_delay(),
            "on_failure_callback": callbacks.failure_callbacks(),
        },
    }


def build_marts_dag(sources: list[str] | None = None) -> DAG:
    """The marts DAG, scheduled on the raw Assets of ``sources`` (default: every contract)."""
    sources = sources if sources is not None else [p.stem for p in contract_paths()]
    manifest = dbt_project.ensure_manifest()
    schedule = AssetAny(*(config.raw_asset(s) for s in sources)) if sources else None
    with DAG(
        dag_id=config.MARTS_DAG_ID,
        dag_display_name="Build the cross-state marts",
        description="Rebuild and validate the cross-state marts when raw data changes",
        doc_md=docs.marts_doc(sources, f"a manifest made by `dbt parse` ({manifest.parent.name})"),
        schedule=schedule,
        tags=["marts", "dbt", "gx"],
        **_marts_dag_args(),
    ) as dag:

        @task(task_display_name="Prepare warehouse and pin the snapshot", **_transform_args())
        def prepare(**context: Any) -> dict[str, Any]:
            return prepare_build(context["run_id"])

        transform = dbt_task_group(manifest)
        prepare() >> transform
        if dbt_execution_mode() == "watcher":
            report_after_build(transform)
        on_transform_queue(transform)

        # none_failed: after a build that left nodes out (skipped), the marts are validated still.
        @task(
            task_display_name="Validate marts (GX)",
            trigger_rule=TriggerRule.NONE_FAILED,
            **_transform_args(),
        )
        def validate() -> dict[str, Any]:
            return validate_marts()

        @task(task_display_name="Publish marts asset", outlets=[config.marts_asset()])
        def publish(validation: dict[str, Any]) -> None:
            log.info("marts validated and published")

        @task(
            task_display_name="Checks recorded",
            trigger_rule=TriggerRule.ALL_DONE,
            outlets=[config.marts_checked_asset()],
        )
        def checked() -> None:
            # Runs whatever dbt and GX did, so the docs DAG reports a failed build too.
            log.info("the build's results are recorded; %s publishes the report", config.DOCS_DAG_ID)

        validation = validate()
        transform >> validation
        publish(validation)  # type: ignore[arg-type]  # an XComArg, resolved when the task runs
        validation >> checked()
    return dag


def publish_data_docs() -> str | None:
    """Render the GX Data Docs of the validation results not rendered yet; where the index is."""
    from innovation_pipeline.dq.runner import render_data_docs

    where = render_data_docs()
    return None if where is None else str(where)


def build_docs_dag() -> DAG:
    """``publish_docs``: dbt docs, GX Data Docs and the data-quality report after each marts build."""
    from cosmos.operators.local import DbtDocsLocalOperator

    with DAG(
        dag_id=config.DOCS_DAG_ID,
        dag_display_name="Publish docs and the data-quality report",
        description="dbt docs, GX Data Docs and the data-quality report after each marts build",
        doc_md=docs.docs_dag_doc(),
        schedule=config.marts_checked_asset(),
        tags=["marts", "docs", "dq"],
        **_marts_dag_args(),
    ) as dag:
        DbtDocsLocalOperator(
            task_id="dbt_docs",
            task_display_name="dbt docs",
            project_dir=str(dbt_project.project_dir()),
            profile_config=profile_config(),
            install_deps=False,
            callback=dbt_project.publish_docs,
            **_transform_args(),
        )

        @task(task_display_name="GX Data Docs", **_transform_args())
        def data_docs() -> str | None:
            return publish_data_docs()

        @task(task_display_name="Data-quality report", **_transform_args())
        def report() -> str:
            return build_report()

        data_docs()
        report()
    return dag
