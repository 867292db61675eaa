"""The marts DAG: dbt through Cosmos, GX validation of the marts, the data-quality report.

It is scheduled on the raw Assets of every source (any one of them updating triggers it), and it
updates the marts Asset only when dbt's models and tests and the GX checkpoint all passed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, AssetAny, TriggerRule, task

from innovation_pipeline.contracts import contract_paths
from innovation_pipeline.marts_snapshot import DBT_VAR as DBT_SNAPSHOT_VAR
from innovation_pipeline.orchestration import callbacks, config, dbt_project, docs

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
    """Prepare the warehouse for dbt and pin this run's snapshot (the same one when retried)."""
    from innovation_pipeline.marts_snapshot import take_marts_snapshot
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    tables = prepare_warehouse()
    as_of = take_marts_snapshot(f"airflow:{config.MARTS_DAG_ID}:{run_id}", "Airflow build_marts")
    log.info("this build reads submissions up to id %s; later ones wait for the next run", as_of)
    return {DBT_SNAPSHOT_VAR: as_of, "raw_tables": tables}


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
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior(config.dbt_test_behavior()),
            source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
            # after_each: a test with several parents (a relationships test from a fact to a
            # dimension) gets a task of its own after all of them; run with one parent's tests, it
            # would query a table the other parent has not built yet.
            should_detach_multiple_parents_tests=True,
            # The marts publish one Asset of their own once validated; per-model datasets would
            # announce models GX has not checked yet.
            emit_datasets=False,
        ),
        operator_args={"install_deps": False, "vars": SNAPSHOT_VARS, **_transform_args()},
    )


def build_marts_dag(sources: list[str] | None = None) -> DAG:
    """The marts DAG, scheduled on the raw Assets of ``sources`` (default: every contract)."""
    from cosmos.operators.local import DbtDocsLocalOperator

    sources = sources if sources is not None else [p.stem for p in contract_paths()]
    manifest = dbt_project.ensure_manifest()
    schedule = AssetAny(*(config.raw_asset(s) for s in sources)) if sources else None
    with DAG(
        dag_id=config.MARTS_DAG_ID,
        dag_display_name="Build the cross-state marts",
        description="Rebuild and validate the cross-state marts when raw data changes",
        doc_md=docs.marts_doc(sources, f"a manifest made by `dbt parse` ({manifest.parent.name})"),
        schedule=schedule,
        start_date=config.START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["marts", "dbt", "gx"],
        default_args={
            "owner": MARTS_OWNER,
            "retries": MARTS_RETRIES,
            "retry_delay": config.retry_delay(),
            "on_failure_callback": callbacks.failure_callbacks(),
        },
    ) as dag:

        @task(task_display_name="Prepare warehouse and pin the snapshot", **_transform_args())
        def prepare(**context: Any) -> dict[str, Any]:
            return prepare_build(context["run_id"])

        transform = dbt_task_group(manifest)
        prepare() >> transform

        dbt_docs = DbtDocsLocalOperator(
            task_id="dbt_docs",
            task_display_name="dbt docs",
            project_dir=str(dbt_project.project_dir()),
            profile_config=profile_config(),
            install_deps=False,
            vars=SNAPSHOT_VARS,
            callback=dbt_project.publish_docs,
            **_transform_args(),
        )

        @task(task_display_name="Validate marts (GX)", **_transform_args())
        def validate() -> dict[str, Any]:
            return validate_marts()

        @task(task_display_name="Data-quality report", trigger_rule=TriggerRule.ALL_DONE, **_transform_args())
        def report() -> str:
            return build_report()

        @task(task_display_name="Publish marts asset", outlets=[config.marts_asset()])
        def publish(validation: dict[str, Any]) -> None:
            log.info("marts validated and published")

        checked = validate()
        transform >> checked
        transform >> dbt_docs
        publish(checked)
        checked >> report()
    return dag
