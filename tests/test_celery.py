"""Airflow on the CeleryExecutor with real processes: API server, scheduler, DAG processor and one
``airflow celery worker``, against the Redis server on 127.0.0.1:6379 and a PostgreSQL metadata
database on the test server (issue 8).

The cluster parses the project's own ``dags/`` folder and runs the real ``ingest_ky_local_labs``
DAG on four sample files (two loads, a resent duplicate, a second district) with the file tasks in
the ``warehouse_loads`` pool; the warehouse is then compared with the same files landed directly by
the loader (``land_file``, what a LocalExecutor file task runs) into a second fresh database.

The other programs' earlier deliveries (one 2024 file of each, and a 2024 outcome file of every
state) are landed directly into both databases first: the marts' GX suites expect every state and
program. The ingest run's raw Asset event starts ``build_marts`` (about 55 Cosmos tasks, GX, the
report), which the test waits for to the end; every task must succeed on the Celery worker, and the
marts must equal those a plain ``dbt build`` makes from the directly landed database.

Where a dbt task's time went on the worker (two shared cores, from the task logs): about 12 s
each, of which the model was under 1 s (1.5 s task start and DAG parse, 3 s importing dbt, 4 s
for dbt to start and load the project, 15 s instead for the first tasks, which parse it in full).
The worker now imports dbt, Cosmos and GX before it forks (``worker_preload``, as the compose
file's workers do) and Cosmos reuses dbt's partial parse: about 5.5 s a task (median), and the
whole marts run (56-57 tasks) took 200-400 s at a concurrency of 2, the test 6-10 minutes (two
cores shared with other agents' test runs and benchmarks, load average 3.5-5.4). What is
left of a task is mostly CPU: at a concurrency of 4 the tasks shared the two cores and the marts
run was not faster (361 s, though with more of the other agents' load on the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow_procs import ClusterError, celery_cluster, redis_ping, scratch_database, survivors
from sample_warehouse import SampleInbox

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
LOAD_POOL = "warehouse_loads"
SOURCE = "ky_local_labs"
INGEST_DAG = f"ingest_{SOURCE}"
MARTS_DAG = "build_marts"
DOCS_DAG = "publish_docs"
#: A small subset of the samples: two loads of one district, the second delivered again (same
#: bytes: a duplicate), and a second district.
FILES = {
    "KY_LLL_851_2022-23.csv",
    "KY_LLL_851_2023-24.csv",
    "KY_LLL_851_2023-24_resent.csv",
    "KY_LLL_797_SY2024.csv",
}
ROOT = Path(__file__).resolve().parents[1]
#: Tasks the worker runs at once: one per core (see the module docstring).
WORKER_CONCURRENCY = 2
#: How long the whole build_marts run may take (about 55 tasks).
MARTS_TIMEOUT = 2400
TEST_TIMEOUT = 3600
SUBMISSIONS = (
    "select file_name, status, rows_received, rows_loaded, rows_quarantined, rows_skipped, is_late,"
    " reason_code from audit.submissions where source = %s order by file_name"
)


def test_redis_check_fails_fast_when_nothing_listens() -> None:
    """The precondition check is a clear, quick failure, not a hang, when Redis is absent."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        started = time.monotonic()
        with pytest.raises(ClusterError, match=f"Redis is not reachable at 127.0.0.1:{port}"):
            redis_ping("127.0.0.1", port, timeout=2)
    assert time.monotonic() - started < 5


def test_worker_preload_only_imports() -> None:
    """The module Celery workers import before forking: it loads dbt, Cosmos and GX, and starts no
    thread (a thread does not survive a fork) and opens no connection (sockets are blocked)."""
    probe = (
        "import socket, sys, threading\n"
        "def refuse(*a, **k): raise OSError('connection at import')\n"
        "socket.socket.connect = refuse\n"
        "import innovation_pipeline.orchestration.worker_preload as p\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "missing = [m for m in p.PRELOADED if m not in sys.modules]\n"
        "assert not missing, missing\n"
        "assert 'dbt.cli.main' in sys.modules and 'great_expectations' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _warehouse_state(url: str) -> tuple[list[tuple[Any, ...]], int]:
    """audit.submissions of the source, and the row count of its raw table."""
    with psycopg.connect(url) as conn:
        submissions = conn.execute(SUBMISSIONS, (SOURCE,)).fetchall()
        raw = conn.execute(f"select count(*) from raw.{SOURCE}").fetchone()  # constant identifier
    return submissions, int(raw[0] if raw else 0)


def _earlier_deliveries(samples: Path) -> list[Path]:
    """One 2024 sample file of every other source, and a 2024 outcome file of every state.

    The marts' GX suites expect every state and program to be covered, so the warehouse holds
    these before the test's KY files arrive (as it would hold earlier deliveries in production).
    """
    manifest = json.loads((samples / "manifest.json").read_text(encoding="utf-8"))
    picked: dict[tuple[str, str], Path] = {}
    for entry in sorted(manifest["files"], key=lambda e: e["path"]):
        if entry["source"] == SOURCE or entry["expected_status"] != "loaded" or entry["school_year"] != 2024:
            continue
        # Programs: one file each; state outcomes: one file per state.
        key = (entry["source"], entry["submitter"][:2] if entry["source"] == "state_outcomes" else "")
        picked.setdefault(key, samples / entry["path"])
    return list(picked.values())


def _land(files: list[Path], url: str) -> list[int]:
    """``land_file`` each file into ``url`` in the given order; the ids of the loaded submissions."""
    import os

    from innovation_pipeline.contracts import load_contract, programs_dir
    from innovation_pipeline.landing import FileRejected, land_file

    saved = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    loaded = []
    try:
        for path in files:
            try:
                result = land_file(load_contract(programs_dir() / f"{path.parent.name}.yml"), path)
            except FileRejected:
                continue  # recorded in audit.submissions, which is compared
            if result.status == "loaded":
                loaded.append(result.submission_id)
    finally:
        if saved is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = saved
    return loaded


def _direct_run(inbox: Path, url: str, work: Path) -> subprocess.Popen[str]:
    """What a LocalExecutor run does with the staged files, without Airflow, into ``url``.

    ``land_file`` on each file in arrival order and GX on the loaded submissions (the ingest
    DAG's file and validate tasks), then a plain ``dbt build`` of the project's seeds and models
    (what the marts DAG's Cosmos tasks build one by one), started in the background: the caller
    waits for it.
    """
    import os

    from innovation_pipeline.contracts import load_contract, programs_dir
    from innovation_pipeline.dq import validate_landing
    from innovation_pipeline.warehouse import export_environment

    files = sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
    loaded = _land(files, url)
    saved = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    try:
        validate_landing(load_contract(programs_dir() / f"{SOURCE}.yml"), loaded)
        env = {**os.environ, **export_environment(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    finally:
        if saved is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = saved
    project = ROOT / "dbt_project"
    cmd = [str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(project)]
    # The marts' contents do not depend on dbt's tests; the Celery run's test task checks them.
    cmd += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    cmd += ["--profiles-dir", str(project), "--target-path", str(work / "target")]
    cmd += ["--log-path", str(work / "logs")]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _marts(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every mart's rows, without the columns that differ between two loads of the same files.

    Submission ids and load or receipt times (``*submission_id``, ``*_at``) depend on when and in
    which order the files were landed; everything else must be equal.
    """
    from psycopg import sql

    marts: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        columns = conn.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_schema = 'marts' order by table_name, ordinal_position"
        ).fetchall()
        tables: dict[str, list[str]] = {}
        for table, column in columns:
            tables.setdefault(table, [])
            if not column.endswith(("submission_id", "_at")):
                tables[table].append(column)
        for table, kept in tables.items():
            query = sql.SQL("select {} from {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in kept), sql.Identifier("marts", table)
            )
            marts[table] = sorted(conn.execute(query).fetchall(), key=repr)
    return marts


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_ingest_and_marts_run_on_the_celery_worker(
    warehouse_url: str,
    sample_inbox: SampleInbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    redis_ping(REDIS_HOST, REDIS_PORT)  # a clear failure before anything starts

    from innovation_pipeline import settings
    from innovation_pipeline.demo import stage_samples
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.warehouse import export_environment
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    data = tmp_path / "data"
    inbox = data / "inbox"
    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        scratch_database(warehouse_url) as meta,
        scratch_database(warehouse_url, "celery_wh") as wh,
        scratch_database(warehouse_url, "local_wh") as reference,
    ):
        monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
        monkeypatch.setenv("PIPELINE_INBOX_URL", f"file://{inbox}")
        monkeypatch.setenv("WAREHOUSE_URL", wh.url())
        (inbox / SOURCE).mkdir(parents=True)  # empty until the scheduled run below is done
        prepare_warehouse()  # raw tables for every contract, dq tables, roles: what dbt expects
        warehouse_env = export_environment()  # WAREHOUSE_*, AIRFLOW_CONN_WAREHOUSE for dbt and GX
        ensure_manifest()  # parsed once here, not by the DAG processor under its import timeout
        # The other programs' earlier deliveries, in both warehouses alike.
        monkeypatch.setenv("WAREHOUSE_URL", reference.url())
        prepare_warehouse()
        monkeypatch.setenv("WAREHOUSE_URL", wh.url())
        earlier = _earlier_deliveries(sample_inbox.folder)
        assert _land(earlier, wh.url()) == _land(earlier, reference.url()) != []
        timings["prepared"] = time.monotonic() - started

        with celery_cluster(
            home=tmp_path / "airflow",
            dags_folder=ROOT / "dags",
            # The embedded server is socket-only: its folder travels in the ?host= parameter.
            metadata_url=meta.url("postgresql+psycopg2"),
            result_backend=meta.url("db+postgresql"),
            metadata_conninfo=meta.url(),
            broker_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            # Only the two DAGs under test run; the other sources' scheduled runs would compete.
            paused_at_creation=True,
            worker_concurrency=WORKER_CONCURRENCY,
            worker_imports=("innovation_pipeline.orchestration.worker_preload",),
            extra_env={
                **warehouse_env,
                "PIPELINE_DATA_DIR": str(data),
                "PIPELINE_INBOX_URL": f"file://{inbox}",
                "PIPELINE_OUTPUT_DIR": str(tmp_path / "output"),
                "DBT_PROFILES_DIR": str(settings.dbt_project_dir()),
                "PIPELINE_LOAD_POOL": LOAD_POOL,
                "PIPELINE_LOAD_PARALLELISM": "2",
                "PIPELINE_RETRY_DELAY_SECONDS": "5",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            },
        ) as cluster:
            timings["start"] = time.monotonic() - started
            # What airflow-init does in docker-compose.yml.
            cluster.cli("pools", "set", LOAD_POOL, "2", "File loads into the warehouse")
            cluster.wait_for_dag(INGEST_DAG)
            cluster.wait_for_dag(MARTS_DAG)
            cluster.wait_for_dag(DOCS_DAG)
            cluster.unpause(MARTS_DAG, INGEST_DAG, DOCS_DAG)
            # Unpausing creates the run of the latest schedule interval; on an empty inbox it
            # loads nothing and publishes no Asset event. Only then do the files arrive.
            cluster.wait_until_idle(INGEST_DAG)
            assert cluster.run_state(MARTS_DAG) is None, "build_marts ran before any file arrived"
            timings["parsed"] = time.monotonic() - started

            assert stage_samples(sample_inbox.folder, include=lambda p: p.name in FILES) == len(FILES)
            staged = {p.name for p in (inbox / SOURCE).iterdir()}
            assert staged == FILES, staged
            direct_dbt = _direct_run(inbox / SOURCE, reference.url(), tmp_path / "direct_dbt")
            # On a failure, the background build does not outlive the test.
            request.addfinalizer(lambda: (direct_dbt.kill(), direct_dbt.wait(timeout=30)))

            run_id = cluster.trigger(INGEST_DAG)
            state = cluster.wait_for_run(INGEST_DAG, run_id)
            timings["ingest"] = time.monotonic() - started
            tis = cluster.task_instances(INGEST_DAG, run_id)
            assert state == "success", f"{INGEST_DAG} ended {state}: {tis}\n{cluster.report()}"

            # The ingest run's raw Asset event creates the build_marts run; wait for all of it.
            marts_run_id, marts_run_type = cluster.wait_for_new_run(MARTS_DAG)
            sources = cluster.query(
                "select ae.source_dag_id, ae.source_run_id from asset_event ae"
                " join dagrun_asset_event dae on dae.event_id = ae.id"
                " join dag_run dr on dr.id = dae.dag_run_id where dr.dag_id = %s and dr.run_id = %s",
                (MARTS_DAG, marts_run_id),
            )
            marts_state = cluster.wait_for_run(MARTS_DAG, marts_run_id, timeout=MARTS_TIMEOUT, fail_fast=True)
            timings["marts"] = time.monotonic() - started
            marts_tis = cluster.task_instances(MARTS_DAG, marts_run_id)
            assert marts_state == "success", (
                f"{MARTS_DAG} ended {marts_state}: {marts_tis}\n{cluster.report()}"
            )
            # The build's marts_checked Asset starts the docs DAG (dbt docs, Data Docs, report).
            docs_run_id, docs_run_type = cluster.wait_for_new_run(DOCS_DAG, timeout=600)
            docs_state = cluster.wait_for_run(DOCS_DAG, docs_run_id, timeout=1200, fail_fast=True)
            timings["docs"] = time.monotonic() - started
            docs_tis = cluster.task_instances(DOCS_DAG, docs_run_id)
            assert docs_state == "success", f"{DOCS_DAG} ended {docs_state}: {docs_tis}\n{cluster.report()}"
            celery_results = cluster.celery_results(
                [ti["celery_id"] for ti in tis + marts_tis + docs_tis if ti["celery_id"]]
            )
            durations = cluster.task_durations(MARTS_DAG, marts_run_id)
        # The direct dbt build has had the whole marts run to finish in.
        direct_out, _ = direct_dbt.communicate(timeout=1200)
        timings["direct_dbt"] = time.monotonic() - started
        # Read before the databases are dropped.
        celery_state = _warehouse_state(wh.url())
        local_state = _warehouse_state(reference.url())
        celery_marts = _marts(wh.url())
        local_marts = _marts(reference.url())

    timings["stopped"] = time.monotonic() - started
    print(f"celery test timings (s since start): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    print(f"{MARTS_DAG} task seconds (start to end): {durations}")
    print(f"seconds to stop each component: {cluster.stop_seconds}")
    # Every process the cluster started (and every task process they forked) is gone.
    assert cluster.stopped_pids and not survivors(cluster.stopped_pids)

    # The ingest run: every task succeeded, the file tasks in the load pool.
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    assert {"list_new_files", "land", "validate", "publish"} <= set(by_task), by_task
    from innovation_pipeline.orchestration.landing_tasks import load_batch_files

    # The files land in batches (one task per batch of PIPELINE_LOAD_BATCH_FILES files).
    assert len(by_task["land"]) == -(-len(FILES) // load_batch_files())
    # An ordinary run: the reprocess task skips itself (only a {"reprocess": true} run uses it).
    assert [ti["state"] for ti in tis if ti["task_id"] == "reprocess"] == ["skipped"], tis
    tis = [ti for ti in tis if ti["task_id"] != "reprocess"]
    assert all(ti["state"] == "success" for ti in tis), tis
    assert {(ti["pool"], ti["queue"]) for ti in by_task["land"]} == {(LOAD_POOL, cluster.queue)}

    # The marts run: created by our ingest run's raw Asset event, not by the test; every task of
    # it (the whole dbt project through Cosmos, GX, the report, the marts Asset) succeeded.
    assert marts_run_type == "asset_triggered", marts_run_type
    assert sources == [(INGEST_DAG, run_id)], sources
    assert all(ti["state"] == "success" for ti in marts_tis), marts_tis
    marts_tasks = {ti["task_id"] for ti in marts_tis}
    assert {"prepare", "validate", "publish", "checked"} <= marts_tasks, marts_tasks
    assert len([t for t in marts_tasks if t.startswith("dbt.")]) >= 50, marts_tasks
    # dbt, GX and the report go to the transform queue the worker also serves; the Asset tasks do not.
    queues = {ti["task_id"]: ti["queue"] for ti in marts_tis}
    assert (queues.pop("publish"), queues.pop("checked")) == (cluster.queue, cluster.queue)
    assert set(queues.values()) == {cluster.transform_queue}, queues
    assert docs_run_type == "asset_triggered", docs_run_type
    assert {ti["task_id"]: ti["state"] for ti in docs_tis} == dict.fromkeys(
        ("dbt_docs", "data_docs", "report"), "success"
    ), docs_tis
    assert {ti["queue"] for ti in docs_tis} == {cluster.transform_queue}, docs_tis

    for ti in tis + marts_tis + docs_tis:
        if ti["operator"] == "EmptyOperator":
            continue  # never executed: the scheduler marks it done (Cosmos's watcher_done marker)
        # The executor handed the task to Celery, and our worker ran it to success.
        assert ti["celery_id"], f"{ti['task_id']} has no Celery task id"
        assert celery_results[ti["celery_id"]] == ("SUCCESS", cluster.worker_node), (ti, celery_results)

    # The warehouse holds what landing the same files directly holds ...
    assert celery_state == local_state
    statuses = sorted(row[1] for row in celery_state[0])
    assert statuses == ["duplicate", "loaded", "loaded", "loaded"], celery_state[0]
    assert celery_state[1] > 0
    # ... and the marts what a plain dbt build on that gives.
    assert direct_dbt.returncode == 0, direct_out[-3000:]
    assert celery_marts.keys() == local_marts.keys()
    different = [t for t in celery_marts if celery_marts[t] != local_marts[t]]
    assert not different, {t: (celery_marts[t][:5], local_marts[t][:5]) for t in different}
    ky = [r for r in celery_marts["fct_program_participation"] if r[:2] == ("ky_local_labs", "KY")]
    assert {r[2] for r in ky} == {"KY-851", "KY-797"}, ky[:5]
