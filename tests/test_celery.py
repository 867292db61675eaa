"""Airflow on the CeleryExecutor with real processes: API server, scheduler, DAG processor and one
``airflow celery worker``, against the Redis server on 127.0.0.1:6379 and a PostgreSQL metadata
database on the test server (issue 8).

The cluster parses the project's own ``dags/`` folder and runs the real ``ingest_ky_local_labs``
DAG on four sample files (two loads, a resent duplicate, a second district) with the file tasks in
the ``warehouse_loads`` pool; the warehouse is then compared with the same files landed directly by
the loader (``land_file``, what a LocalExecutor file task runs) into a second fresh database.

``build_marts`` is NOT waited for to the end: the whole dbt project is about 55 Cosmos tasks; on
this two-core machine 8 of them finished in the first two and a half minutes (measured, with
another test suite sharing the cores), so the whole run would take far longer than ~6 minutes. The test proves instead
that our ingest run's Asset event created a ``build_marts`` run and that its first dbt task ran and
succeeded on the Celery worker, on the transform queue; stopping the cluster ends the rest. The
full marts run through Airflow is left to the ``dag.test()`` end-to-end tests.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow_procs import ClusterError, celery_cluster, redis_ping, survivors

from innovation_pipeline.warehouse import ConnectionParts, parse_url

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
LOAD_POOL = "warehouse_loads"
SOURCE = "ky_local_labs"
INGEST_DAG = f"ingest_{SOURCE}"
MARTS_DAG = "build_marts"
#: A small subset of the samples: two loads of one district, the second delivered again (same
#: bytes: a duplicate), and a second district.
FILES = {
    "KY_LLL_005_2022-2023.csv",
    "KY_LLL_005_2023-2024.csv",
    "KY_LLL_005_2023-2024_resent.csv",
    "KY_LLL_207_SY2024.csv",
}
ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = (
    "select file_name, status, rows_received, rows_loaded, rows_quarantined, rows_skipped, is_late,"
    " reason_code from audit.submissions where source = %s order by file_name"
)


@contextmanager
def scratch_database(server_url: str, prefix: str = "airflow_meta") -> Iterator[ConnectionParts]:
    """A new database on the server behind ``server_url``, dropped afterwards."""
    from psycopg import sql

    base = parse_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield base.with_dbname(name)
    finally:
        with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


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


def _warehouse_state(url: str) -> tuple[list[tuple[Any, ...]], int]:
    """audit.submissions of the source, and the row count of its raw table."""
    with psycopg.connect(url) as conn:
        submissions = conn.execute(SUBMISSIONS, (SOURCE,)).fetchall()
        raw = conn.execute(f"select count(*) from raw.{SOURCE}").fetchone()  # constant identifier
    return submissions, int(raw[0] if raw else 0)


def _land_directly(inbox: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a LocalExecutor run's file tasks do: ``land_file`` on each file, in arrival order."""
    from innovation_pipeline.contracts import load_contract, programs_dir
    from innovation_pipeline.landing import FileRejected, land_file

    monkeypatch.setenv("WAREHOUSE_URL", url)
    contract = load_contract(programs_dir() / f"{SOURCE}.yml")
    for path in sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        try:
            land_file(contract, path)
        except FileRejected:
            pass  # recorded in audit.submissions, which is compared


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_ingest_and_marts_run_on_the_celery_worker(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_ping(REDIS_HOST, REDIS_PORT)  # a clear failure before anything starts

    from innovation_pipeline import settings
    from innovation_pipeline.demo import stage_samples
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.samples import generate
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
        generate(tmp_path / "samples")
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
            cluster.wait_for_dag(INGEST_DAG, timeout=240)
            cluster.wait_for_dag(MARTS_DAG, timeout=240)
            cluster.unpause(MARTS_DAG, INGEST_DAG)
            # Unpausing creates the run of the latest schedule interval; on an empty inbox it
            # loads nothing and publishes no Asset event. Only then do the files arrive.
            cluster.wait_until_idle(INGEST_DAG)
            assert cluster.run_state(MARTS_DAG) is None, "build_marts ran before any file arrived"
            timings["parsed"] = time.monotonic() - started

            assert stage_samples(tmp_path / "samples", include=lambda p: p.name in FILES) == len(FILES)
            staged = {p.name for p in (inbox / SOURCE).iterdir()}
            assert staged == FILES, staged
            _land_directly(inbox / SOURCE, reference.url(), monkeypatch)

            run_id = cluster.trigger(INGEST_DAG)
            state = cluster.wait_for_run(INGEST_DAG, run_id, timeout=240)
            timings["ingest"] = time.monotonic() - started
            tis = cluster.task_instances(INGEST_DAG, run_id)
            assert state == "success", f"{INGEST_DAG} ended {state}: {tis}\n{cluster.report()}"

            # build_marts on the whole dbt project takes far longer than this test may run on
            # two cores (about 55 tasks at two at a time), so the test proves its start: the
            # run exists because our run's Asset event created it, and its first dbt task
            # succeeded on the worker, on the transform queue. Stopping the cluster ends the rest.
            marts_run_id, marts_run_type = cluster.wait_for_new_run(MARTS_DAG, timeout=120)
            sources = cluster.query(
                "select ae.source_dag_id, ae.source_run_id from asset_event ae"
                " join dagrun_asset_event dae on dae.event_id = ae.id"
                " join dag_run dr on dr.id = dae.dag_run_id where dr.dag_id = %s and dr.run_id = %s",
                (MARTS_DAG, marts_run_id),
            )

            def first_dbt_task() -> list[dict[str, Any]]:
                done = cluster.task_instances(MARTS_DAG, marts_run_id)
                failed = [ti for ti in done if ti["state"] in ("failed", "upstream_failed")]
                if failed:
                    raise AssertionError(f"{MARTS_DAG} tasks failed: {failed}\n{cluster.report()}")
                ok = [ti for ti in done if ti["task_id"].startswith("dbt.") and ti["state"] == "success"]
                return ok

            dbt_done = cluster.wait_until(first_dbt_task, timeout=300, what=f"a dbt task of {MARTS_DAG}")
            timings["marts_first_dbt_task"] = time.monotonic() - started
            ran = [ti for ti in tis if ti["state"] == "success"] + dbt_done
            celery_results = cluster.celery_results([ti["celery_id"] for ti in ran if ti["celery_id"]])
        # Read before the databases are dropped.
        celery_state = _warehouse_state(wh.url())
        local_state = _warehouse_state(reference.url())

    timings["stopped"] = time.monotonic() - started
    # Every process the cluster started (and every task process they forked) is gone.
    assert cluster.stopped_pids and not survivors(cluster.stopped_pids)

    # The ingest run: every task succeeded on the Celery worker, the file tasks in the load pool.
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    assert {"list_new_files", "land", "validate", "publish"} <= set(by_task), by_task
    assert len(by_task["land"]) == len(FILES)
    assert all(ti["state"] == "success" for ti in tis), tis
    assert {(ti["pool"], ti["queue"]) for ti in by_task["land"]} == {(LOAD_POOL, cluster.queue)}

    # The marts run: created by our ingest run's raw Asset event, not by the test.
    assert marts_run_type == "asset_triggered", marts_run_type
    assert sources == [(INGEST_DAG, run_id)], sources
    # dbt goes to the transform queue the worker also serves.
    assert {ti["queue"] for ti in dbt_done} == {cluster.transform_queue}, dbt_done

    for ti in ran:
        # The executor handed the task to Celery, and Celery's result backend saw it succeed.
        assert ti["celery_id"], f"{ti['task_id']} has no Celery task id"
        assert celery_results[ti["celery_id"]] == "SUCCESS", (ti["task_id"], celery_results)

    # The warehouse holds what landing the same files directly holds.
    assert celery_state == local_state
    statuses = sorted(row[1] for row in celery_state[0])
    assert statuses == ["duplicate", "loaded", "loaded", "loaded"], celery_state[0]
    assert celery_state[1] > 0
    print(f"celery test timings (s since start): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    print(f"seconds to stop each component: {cluster.stop_seconds}")
