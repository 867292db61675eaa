"""One new district file dropped into an inbox, to the marts updated, through the real scheduler.

    python -m benchmarks.scheduler --work W --years N

The statewide set for N school years but one file (the last year's file of one KY district) is
landed with ``land_file`` and the marts built once with ``dbt build`` (recorded as the last finished
build, as the marts DAG records its own, so ``build_marts`` runs only what the file changes:
orchestration/marts_selection.py); then Airflow's components
start as ``make airflow`` starts them (``local_airflow.LocalAirflow``: API server, scheduler, DAG
processor, triggerer, LocalExecutor), every DAG unpaused at creation. Once every DAG's first run
has ended (they land nothing: the inboxes are empty), the held-back file is copied into its inbox
and the clock starts. Nothing is triggered by hand: the inbox watcher (``inbox_watch.py``) must
start the ingest run, whose raw Asset starts ``build_marts``. The breakdown comes from the
metadata database: detection (file dropped to the ingest run queued), landing (that run, queued
to ended), marts (the ``build_marts`` run it started, queued to ended); ``publish_docs`` after it
is timed too, outside the target (nothing waits on it). Prints ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path
from typing import Any

HELD_BACK_SOURCE = "ky_local_labs"
INGEST_DAG = f"ingest_{HELD_BACK_SOURCE}"
TARGET_SECONDS = 60.0


def _held_back(files: list[dict[str, Any]]) -> dict[str, Any]:
    from benchmarks.statewide import LAST_YEAR

    candidates = [
        f
        for f in files
        if f["source"] == HELD_BACK_SOURCE
        and f["school_year"] == LAST_YEAR
        and f["expected_status"] == "loaded"
    ]
    return candidates[-1]


def _free_port() -> int:
    import socket

    # Not 8793: the scheduler's own log server listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def _wait(check: Any, timeout: float, what: str, airflow: Any) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        dead = airflow.dead()
        if dead is not None:
            raise RuntimeError(f"the {dead.name} exited while waiting for {what}; see {dead.log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def run(work: Path, years: int) -> dict[str, Any]:
    """The measurement (see the module docstring)."""
    from benchmarks.orchestration import _dbt_build, _env, _files
    from benchmarks.statewide import land_files

    env = _env()
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import ensure_landing_schema, ensure_raw_table
    from innovation_pipeline.orchestration import local_airflow
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.orchestration.inbox import inbox
    from innovation_pipeline.warehouse import connect, connection_parts, ensure_database

    folder = work / "statewide"
    files = _files(folder, years)
    held = _held_back(files)
    # Empty inboxes: files an earlier benchmark staged there would land in the first runs.
    shutil.rmtree(Path(inbox(HELD_BACK_SOURCE).path).parent, ignore_errors=True)
    landed, rejected, _ = land_files(folder, [f for f in files if f is not held])
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        for contract in load_contracts().values():
            ensure_raw_table(conn, contract)
    _dbt_build(work)
    from innovation_pipeline.orchestration.marts_selection import plan_build, record_finished_build

    record_finished_build(plan_build())

    home = Path(env["AIRFLOW_HOME"]) / "scheduler_bench"
    shutil.rmtree(home, ignore_errors=True)
    (home / "logs").mkdir(parents=True)
    port = int(os.environ.get("BENCH_AIRFLOW_PORT") or 0) or _free_port()
    server = connection_parts()
    meta_db = "airflow_scheduler_bench"
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.with_dbname("postgres").url(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(meta_db)))
    ensure_database(server, meta_db)
    meta = server.with_dbname(meta_db).url()
    full_env = {**os.environ, **env, "AIRFLOW_HOME": str(home)}
    full_env.update(local_airflow.local_environment(home, port))
    full_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = server.with_dbname(meta_db).url("postgresql+psycopg2")
    full_env["AIRFLOW__COSMOS__CACHE_DIR"] = env["AIRFLOW__COSMOS__CACHE_DIR"]
    full_env["PATH"] = os.pathsep.join(
        [str(Path(local_airflow.airflow_binary()).parent), full_env.get("PATH", "")]
    )
    ensure_manifest()
    airflow = local_airflow.LocalAirflow(full_env, home, port, say=lambda _: None)
    timings: dict[str, Any] = {}
    started = time.monotonic()
    try:
        airflow.migrate()
        airflow.start()
        airflow.wait_ready()
        timings["ready_seconds"] = time.monotonic() - started

        def settled() -> bool:
            dags = {r[0] for r in _query(meta, "select dag_id from dag")}
            ran = {r[0] for r in _query(meta, "select distinct dag_id from dag_run")}
            busy = _query(meta, "select count(*) from dag_run where state in ('queued', 'running')")[0][0]
            triggers = _query(meta, "select count(*) from trigger")[0][0]
            ingest = {d for d in dags if d.startswith("ingest_")}
            if "build_marts" in ran:
                raise RuntimeError("a first ingest run landed something: the inboxes were not empty")
            return bool(ingest) and ingest <= ran and busy == 0 and triggers > 0

        _wait(settled, 900, "every ingest DAG's first run and the inbox watchers", airflow)
        timings["settled_seconds"] = time.monotonic() - started
        # The watchers take their first look some seconds after they start.
        time.sleep(15)
        last_marts = _query(meta, "select coalesce(max(id), 0) from dag_run where dag_id = 'build_marts'")[0][
            0
        ]
        last_ingest = _query(
            meta, "select coalesce(max(id), 0) from dag_run where dag_id = %s", (INGEST_DAG,)
        )[0][0]
        last_docs = _query(meta, "select coalesce(max(id), 0) from dag_run where dag_id = 'publish_docs'")[0][
            0
        ]
        target = Path(inbox(HELD_BACK_SOURCE).path)
        target.mkdir(parents=True, exist_ok=True)
        dropped = dt.datetime.now(dt.UTC)
        shutil.copyfile(folder / held["path"], target / Path(held["path"]).name)

        def run_after(dag_id: str, after: int) -> Any:
            rows = _query(
                meta,
                "select id, state, queued_at, start_date, end_date from dag_run"
                " where dag_id = %s and id > %s order by id limit 1",
                (dag_id, after),
            )
            return rows[0] if rows and rows[0][1] in ("success", "failed") else None

        ingest = _wait(lambda: run_after(INGEST_DAG, last_ingest), 600, "the ingest run", airflow)
        marts = _wait(lambda: run_after("build_marts", last_marts), 900, "the build_marts run", airflow)
        docs = _wait(lambda: run_after("publish_docs", last_docs), 600, "the publish_docs run", airflow)
        tasks = _query(
            meta,
            "select ti.task_id, extract(epoch from ti.end_date - ti.start_date), ti.state from task_instance ti"
            " join dag_run dr on dr.dag_id = ti.dag_id and dr.run_id = ti.run_id where dr.id = %s",
            (marts[0],),
        )
        with connect(autocommit=True) as conn:
            row = conn.execute(
                "select selection from audit.marts_finished_builds order by build_seq desc limit 1"
            ).fetchone()
        selection = str(row[0]) if row else ""
    finally:
        airflow.stop()

    def seconds(a: dt.datetime, b: dt.datetime) -> float:
        return (b - a).total_seconds()

    node_tasks = [
        (t, s, state)
        for t, s, state in tasks
        if t.startswith("dbt.") and not t.endswith("dbt_producer_watcher")
    ]
    producer = sum(float(s or 0) for t, s, _ in tasks if t.endswith("dbt_producer_watcher"))
    return {
        "rows": None,
        "seconds": seconds(dropped, marts[4]),
        "file": Path(held["path"]).name,
        "landed_before": landed,
        "rejected_before": rejected,
        "ingest_state": ingest[1],
        "marts_state": marts[1],
        "docs_state": docs[1],
        "detection_seconds": seconds(dropped, ingest[2]),
        "landing_seconds": seconds(ingest[2], ingest[4]),
        "handover_seconds": seconds(ingest[4], marts[2]),
        "marts_seconds": seconds(marts[2], marts[4]),
        "marts_producer_seconds": producer,
        "marts_node_tasks": len(node_tasks),
        "marts_node_tasks_skipped": sum(1 for _, _, state in node_tasks if state == "skipped"),
        "marts_selection": selection,
        "marts_tasks": len(tasks),
        "docs_seconds": seconds(docs[2], docs[4]),
        **timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--years", type=int, default=2)
    args = parser.parse_args(argv)
    out = run(args.work, args.years)
    from benchmarks.measure import emit_result

    emit_result(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
