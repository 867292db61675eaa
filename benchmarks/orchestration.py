"""Airflow's overhead beside the work it orchestrates (issue 19), in child processes.

    python -m benchmarks.orchestration setup --work W --years N   # land the statewide set, dbt build once
    python -m benchmarks.orchestration dbt_build --work W         # plain `dbt build`, the floor
    python -m benchmarks.orchestration build_marts --work W --mode watcher|local
    python -m benchmarks.orchestration land_direct --work W --years N   # land_file on every file, one process
    python -m benchmarks.orchestration ingest_dags --work W --years N   # the same files through every ingest DAG

``benchmarks.run`` runs them side by side in one run (the machine is shared: ratios, not absolute
times, are what the targets compare). Each prints ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _env() -> dict[str, str]:
    # Airflow reads its settings at import: the environment goes in first.
    from innovation_pipeline import demo

    env = demo.prepare_environment()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def setup(work: Path, years: int) -> dict[str, Any]:
    """Land the statewide set with land_file and build the marts once (both runs then start equal)."""
    from benchmarks.statewide import statewide_set
    from innovation_pipeline import demo
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import FileRejected, ensure_landing_schema, ensure_raw_table, land_file
    from innovation_pipeline.warehouse import connect

    env = _env()
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    contracts = load_contracts()
    landed = rejected = 0
    start = time.perf_counter()
    for f in sorted(manifest["files"], key=lambda f: (f["source"], f["path"])):
        try:
            land_file(contracts[f["source"]], folder / f["path"])
            landed += 1
        except FileRejected:
            rejected += 1
    land_seconds = time.perf_counter() - start
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        for contract in contracts.values():
            ensure_raw_table(conn, contract)
    demo.migrate_airflow_db(env)
    seconds, nodes = _dbt_build(work)
    return {
        "rows": None,
        "seconds": seconds,
        "files": len(manifest["files"]),
        "landed": landed,
        "rejected": rejected,
        "land_seconds": land_seconds,
        "nodes": len(nodes),
    }


def _dbt_build(work: Path) -> tuple[float, list[dict[str, Any]]]:
    from benchmarks.statewide import _dbt

    return _dbt(["build"], work)


def dbt_build(work: Path) -> dict[str, Any]:
    """A plain ``dbt build`` of the project (seeds, models, tests) through dbtRunner, in one process."""
    _env()
    seconds, nodes = _dbt_build(work)
    return {"rows": None, "seconds": seconds, "nodes": len(nodes)}


def build_marts(work: Path, mode: str) -> dict[str, Any]:
    """``build_marts`` with ``dag.test()`` in ``mode``; its state, wall time and task counts."""
    os.environ["PIPELINE_DBT_EXECUTION_MODE"] = mode
    _env()
    from innovation_pipeline.demo import failed_tasks, state_name
    from innovation_pipeline.orchestration.marts import build_marts_dag

    t0 = time.perf_counter()
    dag = build_marts_dag()
    parse_seconds = time.perf_counter() - t0
    start = time.perf_counter()
    run = dag.test()
    seconds = time.perf_counter() - start
    tis = run.get_task_instances()
    states: dict[str, int] = {}
    for ti in tis:
        states[state_name(ti.state)] = states.get(state_name(ti.state), 0) + 1
    durations = {ti.task_id: float(ti.duration or 0) for ti in tis}
    producer = sum(v for k, v in durations.items() if k.endswith("dbt_producer_watcher"))
    return {
        "rows": None,
        "seconds": seconds,
        "mode": mode,
        "state": state_name(run.state),
        "tasks": len(tis),
        "dbt_tasks": sum(1 for ti in tis if ti.task_id.startswith("dbt.")),
        "task_states": states,
        "failed": failed_tasks(run),
        "parse_seconds": parse_seconds,
        "producer_seconds": producer,
        "validate_seconds": durations.get("validate"),
        "report_seconds": durations.get("report"),
        "docs_seconds": durations.get("dbt_docs"),
    }


def land_direct(work: Path, years: int) -> dict[str, Any]:
    """Every file of the statewide set through ``land_file`` in this one process, source by source."""
    from benchmarks.statewide import statewide_set
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import FileRejected, land_file

    _env()
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    contracts = load_contracts()
    files = sorted(manifest["files"], key=lambda f: (f["source"], f["path"]))
    landed = rejected = 0
    start = time.perf_counter()
    for f in files:
        try:
            land_file(contracts[f["source"]], folder / f["path"])
            landed += 1
        except FileRejected:
            rejected += 1
    seconds = time.perf_counter() - start
    return {"rows": None, "seconds": seconds, "files": len(files), "landed": landed, "rejected": rejected}


def ingest_dags(work: Path, years: int, batch_files: int | None = None) -> dict[str, Any]:
    """The statewide set staged in the inboxes, then every ingest DAG with ``dag.test()``."""
    if batch_files:
        os.environ["PIPELINE_LOAD_BATCH_FILES"] = str(batch_files)
    from benchmarks.statewide import statewide_set
    from innovation_pipeline import demo

    env = _env()
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    demo.migrate_airflow_db(env)
    staged = demo.stage_samples(folder)
    dags = {k: v for k, v in demo.load_dags().items() if k.startswith("ingest_")}
    runs = []
    land_task_seconds = validate_seconds = 0.0
    start = time.perf_counter()
    for dag_id in sorted(dags):
        outcome, run = demo.run_dag(dags[dag_id])
        tis = run.get_task_instances()
        land_task_seconds += sum(float(ti.duration or 0) for ti in tis if ti.task_id == "land")
        validate_seconds += sum(float(ti.duration or 0) for ti in tis if ti.task_id == "validate")
        runs.append(
            {
                "dag_id": dag_id,
                "state": outcome.state,
                "seconds": round(outcome.seconds, 1),
                "tasks": len(tis),
                "land_tasks": sum(1 for ti in tis if ti.task_id == "land"),
                "failed": outcome.failed_tasks,
            }
        )
    seconds = time.perf_counter() - start
    return {
        "rows": None,
        "seconds": seconds,
        "files": staged,
        "years": manifest["years"],
        "runs": runs,
        "land_task_seconds": land_task_seconds,
        "validate_seconds": validate_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["setup", "dbt_build", "build_marts", "land_direct", "ingest_dags"])
    parser.add_argument("--batch-files", type=int, default=None)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--mode", default="watcher")
    args = parser.parse_args(argv)
    if args.what == "setup":
        out = setup(args.work, args.years)
    elif args.what == "dbt_build":
        out = dbt_build(args.work)
    elif args.what == "land_direct":
        out = land_direct(args.work, args.years)
    elif args.what == "ingest_dags":
        out = ingest_dags(args.work, args.years, args.batch_files)
    else:
        out = build_marts(args.work, args.mode)
    from benchmarks.measure import rss_mb

    out["self_peak_rss_mb"] = rss_mb()
    sys.stdout.write("BENCH_RESULT " + json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
