"""DAG integrity: every file in dags/ imports, every DAG is configured, and parsing touches nothing.

Parsing the DAG folder must not open a connection, run a query or start a process: the DAG
processor parses every file every few seconds. The no-connection test parses in a subprocess whose
sockets, database drivers and subprocesses are blocked, with no ``WAREHOUSE_URL`` (so any warehouse
access would try to start the embedded server), and asserts the DagBag still loads in full.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
PROGRAMS = ROOT / "programs"


def _expected_ids() -> set[str]:
    from innovation_pipeline.contracts import contract_paths

    return {f"ingest_{p.stem}" for p in contract_paths(PROGRAMS)} | {"build_marts", "publish_docs"}


@pytest.fixture(scope="module")
def manifest() -> Path:
    """The dbt manifest the marts DAG reads, made once (``dbt parse``) before any parse test."""
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest

    return ensure_manifest()


@pytest.fixture(scope="module")
def dagbag(manifest: Path):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}, "\n\n".join(f"{k}:\n{v}" for k, v in dagbag.import_errors.items())
    files = {Path(d.fileloc).name for d in dagbag.dags.values()}
    assert files == {p.name for p in DAGS.glob("*.py")}, "a file in dags/ defines no DAG"


def test_one_ingest_dag_per_contract_and_the_marts_dag(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert set(dagbag.dag_ids) == _expected_ids()


def test_every_dag_has_owner_retries_tags_docs(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert "broken-contract" not in dag.tags, f"{dag.dag_id}: its contract does not validate"
        assert dag.catchup is False, dag.dag_id
        assert dag.start_date is not None and dag.start_date.tzinfo is not None, dag.dag_id
        assert dag.doc_md and dag.doc_md.startswith("# "), dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag.dag_id}.{t.task_id} has no owner"
            assert t.retries >= 1, f"{dag.dag_id}.{t.task_id} has no retries"
            assert t.on_failure_callback, f"{dag.dag_id}.{t.task_id} records no failure"


def test_ingest_dags_follow_their_contracts(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import Asset, CronTriggerTimetable, TriggerRule

    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.orchestration.callbacks import record_task_failure

    for source, contract in load_contracts(PROGRAMS).items():
        dag = dagbag.dags[f"ingest_{source}"]
        assert dag.owner == contract.owner
        assert {t.retries for t in dag.tasks} == {contract.retries}
        assert f"state:{contract.state.lower()}" in dag.tags and "ingest" in dag.tags
        # The contract's schedule, or at once when a file arrives (the inbox Asset's watcher).
        cron = CronTriggerTimetable(contract.schedule, timezone="UTC")
        assert dag.timetable.timetable.expression == cron.expression
        inbox_asset = dag.timetable.asset_condition
        assert inbox_asset.uri == Asset(name="x", uri=f"inbox://{source}").uri
        (watcher,) = inbox_asset.watchers
        assert watcher.trigger.serialize()[1]["source"] == source
        land = dag.get_task("land")
        # One task instance per batch of files, in the load pool, named by its files in the UI.
        assert land.is_mapped if hasattr(land, "is_mapped") else type(land).__name__ == "MappedOperator"
        assert land.partial_kwargs.get("pool", "default_pool") == os.environ.get(
            "PIPELINE_LOAD_POOL", "default_pool"
        )
        assert land.partial_kwargs.get("map_index_template") == "{{ batch_label }}"
        # The run goes on past failed batches and rejected files; the raw Asset is updated last.
        assert dag.get_task("validate").trigger_rule == TriggerRule.ALL_DONE
        assert dag.get_task("rejected_files").trigger_rule == TriggerRule.ALL_DONE
        assert "due_date" in dag.get_task("rejected_files").downstream_task_ids
        assert dag.get_task("due_date").trigger_rule == TriggerRule.ALL_DONE
        assert [a.uri for a in dag.get_task("publish").outlets] == [f"warehouse://raw/{source}"]
        assert record_task_failure in dag.get_task("list_new_files").on_failure_callback
        assert contract.title in dag.doc_md
        # Files land before marts tasks take the free slots (see the first-start test).
        # A marts task weighs at most the sum of all marts tasks' weights (rule: downstream).
        marts_bound = sum(t.priority_weight for t in dagbag.dags["build_marts"].tasks)
        assert all(str(t.weight_rule) == "absolute" and t.priority_weight > marts_bound for t in dag.tasks)
        # The UI lists the DAG by the program's name, as the contract spells it.
        assert dag.dag_display_name == contract.title


def test_marts_dag_runs_dbt_then_gx_on_any_raw_asset(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import Asset, AssetAny, TriggerRule

    from innovation_pipeline.contracts import contract_paths

    dag = dagbag.dags["build_marts"]
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert {a.uri for a in condition.objects} == {
        f"warehouse://raw/{p.stem}" for p in contract_paths(PROGRAMS)
    }

    ids = set(dag.task_ids)
    dbt_tasks = {t for t in ids if t.startswith("dbt.")}
    assert any(t.endswith("seed") for t in dbt_tasks), "seeds are not rendered"
    assert any(t.endswith("run") for t in dbt_tasks), "models are not rendered"
    # Models and their tests are separate tasks (Cosmos TestBehavior.AFTER_EACH).
    assert any(t.endswith(".test") or t.endswith("_test") for t in dbt_tasks), "tests are not rendered"
    # Watcher mode (the default): one dbt build in the producer; every node task starts after it
    # (so dag.test(), one task at a time, never waits for a build that has not started).
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.get_flat_relative_ids(upstream=False) >= dbt_tasks - {producer.task_id}
    # Every model task runs after the seeds it depends on, and before the GX check of the marts.
    validate = dag.get_task("validate")
    assert {t for t in validate.get_flat_relative_ids(upstream=True) if t.startswith("dbt.")} == dbt_tasks
    # The producer builds only what prepare's plan selects and records the build once it succeeded
    # (marts_selection.py); the node tasks it leaves out end skipped, which neither the node tasks
    # after them nor the GX check of the marts take as a failure.
    from innovation_pipeline.orchestration import marts_selection

    assert producer._pre_execute_hook is marts_selection.cosmos_pre_execute
    assert producer._post_execute_hook is marts_selection.cosmos_post_execute
    assert validate.trigger_rule == TriggerRule.NONE_FAILED
    for task_id in dbt_tasks - {producer.task_id}:
        rule = dag.get_task(task_id).trigger_rule
        assert rule in (TriggerRule.ALL_DONE, TriggerRule.NONE_FAILED), (task_id, rule)
    # Airflow normalizes the URI (a trailing slash); compare with an Asset built the same way.
    assert [a.uri for a in dag.get_task("publish").outlets] == [Asset("warehouse://marts").uri]
    assert "validate" in dag.get_task("publish").upstream_task_ids
    # Whatever dbt and GX did, the build ends by starting the docs DAG (docs, Data Docs, report).
    checked = dag.get_task("checked")
    assert checked.trigger_rule == TriggerRule.ALL_DONE and "validate" in checked.upstream_task_ids
    assert [a.uri for a in checked.outlets] == [Asset("warehouse://dq/marts_checked").uri]
    docs = dagbag.dags["publish_docs"]
    condition = docs.timetable.asset_condition
    assert {a.uri for a in getattr(condition, "objects", [condition])} == {checked.outlets[0].uri}
    assert set(docs.task_ids) == {"dbt_docs", "data_docs", "report"}
    assert not ({"dbt_docs", "report"} & ids), "docs and report belong to the docs DAG"
    # Every dbt task reads the one snapshot the run's prepare task pinned (test_marts_snapshot.py).
    for task_id in dbt_tasks - {"dbt.dbt_producer_watcher_done"}:
        task = dag.get_task(task_id)
        assert "prepare" in task.get_flat_relative_ids(upstream=True), task_id
        assert "xcom_pull(task_ids='prepare')" in str(task.vars.get("as_of_submission_id")), task_id


def test_every_dag_serializes(dagbag) -> None:  # type: ignore[no-untyped-def]
    """What the DAG processor stores must round-trip (callbacks, Assets, mapped tasks)."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        again = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        assert set(again.task_ids) == set(dag.task_ids)


_PARSE_GUARDED = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys

    # Imported before the guards: croniter probes the platform with `file -b` when imported.
    import croniter
    from airflow.dag_processing.dagbag import DagBag

    attempts = []

    def _blocked(what):
        def guard(*args, **kwargs):
            attempts.append(what)
            raise RuntimeError(f"blocked during DAG parsing: {what}")
        return guard

    socket.socket.connect = _blocked("socket.connect")
    socket.socket.connect_ex = _blocked("socket.connect_ex")
    socket.create_connection = _blocked("socket.create_connection")
    subprocess.Popen.__init__ = _blocked("subprocess.Popen")
    os.system = _blocked("os.system")
    import psycopg, psycopg2
    psycopg.connect = _blocked("psycopg.connect")
    psycopg.Connection.connect = _blocked("psycopg.Connection.connect")
    psycopg2.connect = _blocked("psycopg2.connect")

    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({"ids": sorted(bag.dag_ids), "errors": bag.import_errors, "attempts": attempts}))
    """
)


def _parse_in_guarded_subprocess(extra_env: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"}
    env.update(extra_env or {})
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_GUARDED, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_parsing_opens_no_connection_and_starts_nothing(manifest: Path) -> None:
    result = _parse_in_guarded_subprocess()
    assert result["errors"] == {}
    assert result["attempts"] == []
    assert set(result["ids"]) == _expected_ids()


def test_guard_catches_a_connection_at_parse_time(tmp_path: Path) -> None:
    """The guard itself works: a DAG file that queries at import time fails to load under it."""
    bad = tmp_path / "bad_dag.py"
    bad.write_text(
        "from airflow.sdk import dag\n"
        "import psycopg\n"
        "psycopg.connect('postgresql:///nowhere')\n"
        "@dag(schedule=None)\n"
        "def bad():\n    pass\n"
        "bad()\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_GUARDED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == ["psycopg.connect"]
    assert result["ids"] == [] and result["errors"]


def test_parsing_context_builds_only_the_dag_being_run(manifest: Path) -> None:
    """When a task starts, only its own DAG is built (the other contracts and Cosmos are skipped)."""
    result = _parse_in_guarded_subprocess({"_AIRFLOW_PARSING_CONTEXT_DAG_ID": "ingest_ky_local_labs"})
    assert result["errors"] == {}
    assert result["ids"] == ["ingest_ky_local_labs"]


def test_a_broken_contract_shows_as_its_own_failing_dag(tmp_path: Path) -> None:
    """One contract with a typo must not take the other programs' DAGs down."""
    from innovation_pipeline.orchestration.ingest import build_ingest_dags

    good = (PROGRAMS / "ky_local_labs.yml").read_text(encoding="utf-8")
    (tmp_path / "ky_local_labs.yml").write_text(good, encoding="utf-8")
    (tmp_path / "zz_broken.yml").write_text(
        good.replace("source: ky_local_labs", "source: zz_broken").replace("natural_key:", "natural_keys:"),
        encoding="utf-8",
    )
    dags = build_ingest_dags(folder=tmp_path)
    assert set(dags) == {"ingest_ky_local_labs", "ingest_zz_broken"}
    broken = dags["ingest_zz_broken"]
    assert "broken-contract" in broken.tags
    assert "natural_key" in broken.doc_md
    assert "broken-contract" not in dags["ingest_ky_local_labs"].tags


def test_deadline_alert_serializes_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.orchestration.ingest import build_ingest_dag

    monkeypatch.setenv("PIPELINE_RUN_DEADLINE_MINUTES", "90")
    dag = build_ingest_dag(load_contract(PROGRAMS / "ky_local_labs.yml"))
    assert dag.deadline and dag.deadline[0].interval.total_seconds() == 90 * 60
    DagSerialization.serialize_dag(dag)


def test_marts_dag_with_a_test_task_per_model(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``after_each``: each model's tests follow it; a test spanning models runs after all of them."""
    from innovation_pipeline.orchestration.marts import build_marts_dag

    monkeypatch.setenv("PIPELINE_DBT_TEST_BEHAVIOR", "after_each")
    monkeypatch.setenv("PIPELINE_DBT_EXECUTION_MODE", "local")  # a dbt invocation per task
    dag = build_marts_dag()
    dbt_tasks = {t for t in dag.task_ids if t.startswith("dbt.")}
    assert any(t.endswith(".run") for t in dbt_tasks) and any(t.endswith(".test") for t in dbt_tasks)
    for task_id in dbt_tasks:
        if task_id.startswith("dbt.relationships_"):
            # A detached relationships test waits for both of the models it joins.
            assert len(dag.get_task(task_id).get_flat_relative_ids(upstream=True)) >= 2, task_id
    assert {
        t for t in dag.get_task("validate").get_flat_relative_ids(upstream=True) if t.startswith("dbt.")
    } == (dbt_tasks)


def test_due_date_rule_picks_the_latest_school_year_due() -> None:
    """The SLA the ingest DAGs check: a school year is due on the contract's date after it ends."""
    import datetime as dt

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.orchestration.due import latest_due, school_year_of

    assert school_year_of(dt.date(2024, 6, 30)) == 2024
    assert school_year_of(dt.date(2024, 7, 1)) == 2025
    ky = load_contract(PROGRAMS / "ky_local_labs.yml")  # due July 15 of the ending year
    assert (ky.due.month, ky.due.day, ky.due.year_offset) == (7, 15, 0)
    assert latest_due(ky, dt.date(2024, 7, 15)) == (2024, dt.date(2024, 7, 15))
    assert latest_due(ky, dt.date(2024, 7, 14)) == (2023, dt.date(2023, 7, 15))
    assert latest_due(ky, dt.date(2025, 3, 1)) == (2024, dt.date(2024, 7, 15))


def test_file_tasks_land_earlier_deliveries_of_the_same_submission_first() -> None:
    """Landing order decides duplicate vs loaded and which correction wins, not task order."""
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.orchestration.delivery_order import earlier_related

    ky = load_contract(PROGRAMS / "ky_local_labs.yml")

    def f(name: str, sha: str) -> dict[str, str]:
        return {"name": name, "sha256": sha}

    files = [
        f("KY_LLL_005_2023-24.csv", "a"),
        f("KY_LLL_207_2023-24.csv", "b"),
        f("KY_LLL_005_SY2024.csv", "c"),  # a correction: same district and school year
        f("KY_LLL_207_resent.csv", "b"),  # the same bytes again (its name does not parse)
        f("KY_LLL_005_2022-23.csv", "d"),
    ]
    names = lambda i: [x["name"] for x in earlier_related(ky, files[i], files)]  # noqa: E731
    assert names(0) == []
    assert names(1) == []
    assert names(2) == ["KY_LLL_005_2023-24.csv"]
    # A name without a submission key: everything before it lands first.
    assert names(3) == [x["name"] for x in files[:3]]
    # A file whose key is known waits for the unparseable one too, which could be anything.
    assert names(4) == ["KY_LLL_207_resent.csv"]
