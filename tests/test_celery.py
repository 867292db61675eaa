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

import psycopg
import pytest
from airflow_procs import ClusterError, celery_cluster, redis_ping, survivors

from innovation_pipeline.warehouse import ConnectionParts, parse_url

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
def scratch_database(server_url: str) -> Iterator[ConnectionParts]:
    """A new database on the server behind ``server_url``, dropped afterwards."""
    import psycopg
    from psycopg import sql

    base = parse_url(server_url)
    name = f"airflow_meta_{secrets.token_hex(4)}"
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
        with celery_cluster(
            home=tmp_path / "airflow",
            dags_folder=dags,
            # The embedded server is socket-only: its folder travels in the ?host= parameter.
            metadata_url=meta.url("postgresql+psycopg2"),
            result_backend=meta.url("db+postgresql"),
            metadata_conninfo=meta.url(),
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
            cluster.wait_for_dag("celery_probe")
            timings["parsed"] = time.monotonic() - started
            run_id = cluster.trigger("celery_probe")
            state = cluster.wait_for_run("celery_probe", run_id)
            timings["run"] = time.monotonic() - started
            tis = {ti["task_id"]: ti for ti in cluster.task_instances("celery_probe", run_id)}
            celery_results = cluster.celery_results(
                [ti["celery_id"] for ti in tis.values() if ti["celery_id"]]
            )
            worker_pid = cluster.worker().popen.pid
            report = cluster.report()

    timings["stopped"] = time.monotonic() - started
    # Every process the cluster started (and every task process they forked) is gone.
    assert cluster.stopped_pids and not survivors(cluster.stopped_pids)
    assert state == "success", f"celery_probe ended {state}: {tis}\n{report}"
    assert set(tis) == {"load", "transform"}
    assert (tis["load"]["state"], tis["load"]["queue"], tis["load"]["pool"]) == (
        "success",
        cluster.queue,
        LOAD_POOL,
    )
    assert (tis["transform"]["state"], tis["transform"]["queue"]) == ("success", cluster.transform_queue)
    for task_id, ti in tis.items():
        # The executor handed the task to Celery, and Celery's result backend saw it succeed.
        assert ti["celery_id"], f"{task_id} has no Celery task id"
        assert celery_results[ti["celery_id"]] == "SUCCESS", (task_id, celery_results)
        # The task's process descends from the `airflow celery worker` process this test started.
        record = json.loads((probe_out / f"{task_id}.json").read_text())
        assert worker_pid in record["ancestors"], (task_id, worker_pid, record)
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute("select task from celery_probe").fetchall()
    assert rows == [("load",)]
    print(f"celery test timings (s since start): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    print(f"seconds to stop each component: {cluster.stop_seconds}")
