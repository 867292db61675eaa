"""Airflow on the CeleryExecutor with real processes: API server, scheduler, DAG processor and one
``airflow celery worker``, against the Redis server on 127.0.0.1:6379 and a PostgreSQL metadata
database on the test server (issue 8).

The DAG run here is a probe written by the test; it exercises what the ingest DAGs rely on (the
``warehouse_loads`` pool, the transform queue, the warehouse connection from the environment) and
records which process ran each task, so the test can prove the Celery worker ran them.
"""

from __future__ import annotations

import json
import secrets
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from airflow_procs import ClusterError, celery_cluster, redis_ping, survivors

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
LOAD_POOL = "warehouse_loads"

PROBE_DAG = '''
"""Probe for the Celery test: records which process ran each task and writes to the warehouse."""

import datetime as dt
import json
import os
from pathlib import Path

from airflow.sdk import dag, task

OUT = Path(os.environ["CELERY_PROBE_DIR"])


def _record(name: str) -> None:
    import psutil

    me = psutil.Process()
    ancestors = [p.pid for p in me.parents()]
    (OUT / f"{name}.json").write_text(json.dumps({"pid": me.pid, "ancestors": ancestors}))


@dag(
    dag_id="celery_probe",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1),
    catchup=False,
    tags=["test"],
    default_args={"owner": "tests", "retries": 0},
)
def celery_probe():
    @task(pool=os.environ.get("PIPELINE_LOAD_POOL", "default_pool"))
    def load() -> int:
        import psycopg

        _record("load")
        with psycopg.connect(os.environ["WAREHOUSE_URL"], autocommit=True) as conn:
            conn.execute("create table if not exists celery_probe (task text, pid int)")
            conn.execute("insert into celery_probe values ('load', %s)", (os.getpid(),))
        return 1

    @task(queue=os.environ["PIPELINE_TRANSFORM_QUEUE"])
    def transform(rows: int) -> None:
        _record("transform")

    transform(load())


celery_probe()
'''


@contextmanager
def scratch_database(server_url: str) -> Iterator[object]:
    """A new database on the server behind ``server_url`` (dropped afterwards): ConnectionParts."""
    import psycopg
    from psycopg import sql

    from innovation_pipeline.warehouse import parse_url

    base = parse_url(server_url)
    name = f"airflow_meta_{secrets.token_hex(4)}"
    with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield base.with_dbname(name)
    finally:
        with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def query(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


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


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_dag_runs_on_the_celery_worker(warehouse_url: str, tmp_path: Path) -> None:
    redis_ping(REDIS_HOST, REDIS_PORT)  # a clear failure before anything starts

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "celery_probe.py").write_text(textwrap.dedent(PROBE_DAG), encoding="utf-8")
    probe_out = tmp_path / "probe"
    probe_out.mkdir()

    timings: dict[str, float] = {}
    started = time.monotonic()
    with scratch_database(warehouse_url) as meta:
        meta_url = meta.url()  # type: ignore[attr-defined]
        with celery_cluster(
            home=tmp_path / "airflow",
            dags_folder=dags,
            # The embedded server is socket-only: its folder travels in the ?host= parameter.
            metadata_url=meta.url("postgresql+psycopg2"),  # type: ignore[attr-defined]
            result_backend=meta.url("db+postgresql"),  # type: ignore[attr-defined]
            broker_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            extra_env={
                "CELERY_PROBE_DIR": str(probe_out),
                "WAREHOUSE_URL": warehouse_url,
                "PIPELINE_LOAD_POOL": LOAD_POOL,
            },
        ) as cluster:
            timings["start"] = time.monotonic() - started
            # What airflow-init does in docker-compose.yml.
            cluster.cli("pools", "set", LOAD_POOL, "2", "File loads into the warehouse")

            cluster.wait_until(
                lambda: query(meta_url, "select 1 from dag where dag_id = 'celery_probe' and not is_stale"),
                timeout=120,
                what="the DAG processor to register celery_probe",
            )
            timings["parsed"] = time.monotonic() - started
            run_id = f"celery_{secrets.token_hex(4)}"
            cluster.cli("dags", "trigger", "celery_probe", "--run-id", run_id)

            def finished() -> str | None:
                rows = query(
                    meta_url,
                    "select state from dag_run where dag_id = 'celery_probe' and run_id = %s",
                    (run_id,),
                )
                state = rows[0][0] if rows else None
                return state if state in ("success", "failed") else None

            state = cluster.wait_until(finished, timeout=180, what=f"dag run {run_id} to finish")
            timings["run"] = time.monotonic() - started
            tis = {
                row[0]: row[1:]
                for row in query(
                    meta_url,
                    "select task_id, state, queue, pool, external_executor_id from task_instance"
                    " where dag_id = 'celery_probe' and run_id = %s",
                    (run_id,),
                )
            }
            celery_ids = [row[3] for row in tis.values() if row[3]]

            def celery_settled() -> dict[object, object] | None:
                # The run turns green when the task reports to the API server, a moment before
                # the Celery task itself returns and its result reaches the result backend.
                results = dict(query(meta_url, "select task_id, status from celery_taskmeta"))
                done = all(results.get(i) in ("SUCCESS", "FAILURE") for i in celery_ids)
                return results if done else None

            celery_results = cluster.wait_until(
                celery_settled, timeout=30, what="Celery results for the run's tasks"
            )
            worker_pid = cluster.worker().popen.pid
            report = cluster.report()

    # Every process the cluster started (and every task process they forked) is gone.
    assert cluster.stopped_pids and not survivors(cluster.stopped_pids)
    assert state == "success", f"celery_probe ended {state}: {tis}\n{report}"
    assert set(tis) == {"load", "transform"}
    assert tis["load"][:3] == ("success", cluster.queue, LOAD_POOL)
    assert tis["transform"][:3] == ("success", cluster.transform_queue, "default_pool")
    for task_id, (_, _, _, celery_id) in tis.items():
        # The executor handed the task to Celery, and Celery's result backend saw it succeed.
        assert celery_id, f"{task_id} has no Celery task id"
        assert celery_results.get(celery_id) == "SUCCESS", (task_id, celery_id, celery_results)
        # The task's process descends from the `airflow celery worker` process this test started.
        record = json.loads((probe_out / f"{task_id}.json").read_text())
        assert worker_pid in record["ancestors"], (task_id, worker_pid, record)
    rows = query(warehouse_url, "select task, pid from celery_probe")
    assert [r[0] for r in rows] == ["load"]
    print(f"celery test timings (s since start): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
