"""Airflow's overhead beside the work it orchestrates (issue 19), in child processes.

    python -m benchmarks.orchestration setup --work W --years N   # land the statewide set, dbt build once
    python -m benchmarks.orchestration dbt_build --work W         # plain `dbt build`, the floor
    python -m benchmarks.orchestration build_marts --work W --mode watcher|local
    python -m benchmarks.orchestration land_direct --work W --years N [--validate]   # land_file (and GX), one process
    python -m benchmarks.orchestration ingest_dags --work W --years N   # the same files through every ingest DAG

``benchmarks.run`` runs them side by side in one run (the machine is shared: ratios, not absolute
times, are what the targets compare). Each prints ``BENCH_RESULT {json}``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any


def _env() -> dict[str, str]:
    # Airflow reads its settings at import: the environment goes in first.
    from innovation_pipeline import demo

    env = demo.prepare_environment()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


#: The source whose ingest DAG warms a process up: its inbox is empty when it runs.
WARM_UP_SOURCE = "nh_learn_everywhere"


def _as_deployed(dags: dict[str, Any] | None = None) -> None:
    """Start the DAG runs' process as a deployment's processes are when a run comes.

    It imports what a deployed worker imports before it starts tasks (worker_preload: dbt,
    Cosmos, GX, the DAG factories), as ``make airflow``'s and the Celery workers' processes do,
    and runs one ingest DAG on an empty inbox with ``dag.test()`` first: the first task of a
    process's first dag.test() run also pays for starting its in-process execution API (about
    4 s; in a deployment the API server is up already). The direct runs' timers likewise start
    after their imports (dbt's, the loader's). ``dags``: the parsed DAG folder, if the caller has it.
    """
    import innovation_pipeline.orchestration.worker_preload  # noqa: F401
    from innovation_pipeline import demo
    from innovation_pipeline.orchestration import inbox

    # The benchmark's own inbox: an earlier part may have left files in it, which the warm-up
    # run would land (a run that stages files stages them after this).
    folder = inbox.inbox(WARM_UP_SOURCE)
    for entry in folder.iterdir() if folder.exists() else []:
        if entry.is_file():
            entry.unlink()
    outcome, _ = demo.run_dag((dags or demo.load_dags())[f"ingest_{WARM_UP_SOURCE}"])
    if outcome.state != "success":
        raise RuntimeError(f"the warm-up run ended {outcome.state}: {outcome.failed_tasks}")


def tasks_span(run: Any) -> float:
    """Seconds from a run's first task start to its last task end: the run as the scheduler runs
    it. dag.test() first parses the whole DAG folder again and writes it to the database, on each
    call (seconds here: the marts DAG renders its Cosmos task group), which a scheduled run never
    waits for: the DAG processor parses in the background."""
    timed = [ti for ti in run.get_task_instances() if ti.start_date and ti.end_date]
    if not timed:
        return 0.0
    return (max(ti.end_date for ti in timed) - min(ti.start_date for ti in timed)).total_seconds()


def _files(folder: Path, years: int, source: str | None = None) -> list[dict[str, Any]]:
    """The statewide set's files (of ``source`` only, if given), in landing order."""
    from benchmarks.statewide import statewide_set

    manifest = statewide_set(folder, years)
    files = [f for f in manifest["files"] if source is None or f["source"] == source]
    return sorted(files, key=lambda f: (f["source"], f["path"]))


def setup(work: Path, years: int) -> dict[str, Any]:
    """Land the statewide set with land_file and build the marts once (both runs then start equal)."""
    from benchmarks.statewide import land_files
    from innovation_pipeline import demo
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import ensure_landing_schema, ensure_raw_table
    from innovation_pipeline.warehouse import connect

    env = _env()
    files = _files(work / "statewide", years)
    landed, rejected, land_seconds = land_files(work / "statewide", files)
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        for contract in load_contracts().values():
            ensure_raw_table(conn, contract)
    demo.migrate_airflow_db(env)
    seconds, nodes = _dbt_build(work)
    return {
        "rows": None,
        "seconds": seconds,
        "files": len(files),
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
    _as_deployed()
    from innovation_pipeline.demo import failed_tasks, state_name
    from innovation_pipeline.orchestration.marts import build_docs_dag, build_marts_dag

    t0 = time.perf_counter()
    dag = build_marts_dag()
    parse_seconds = time.perf_counter() - t0
    start = time.perf_counter()
    run = dag.test()
    test_seconds = time.perf_counter() - start
    seconds = tasks_span(run)
    tis = run.get_task_instances()
    states: dict[str, int] = {}
    for ti in tis:
        states[state_name(ti.state)] = states.get(state_name(ti.state), 0) + 1
    durations = {ti.task_id: float(ti.duration or 0) for ti in tis}
    producer = sum(v for k, v in durations.items() if k.endswith("dbt_producer_watcher"))
    nodes = [
        v for k, v in durations.items() if k.startswith("dbt.") and not k.endswith("dbt_producer_watcher")
    ]
    # The docs DAG the build's marts_checked Asset starts, timed on its own (off the build's run).
    docs_start = time.perf_counter()
    docs_run = build_docs_dag().test()
    docs_seconds = time.perf_counter() - docs_start
    docs_tasks = {ti.task_id: float(ti.duration or 0) for ti in docs_run.get_task_instances()}
    return {
        "rows": None,
        "seconds": seconds,
        "dag_test_seconds": test_seconds,
        "mode": mode,
        "state": state_name(run.state),
        "tasks": len(tis),
        "dbt_tasks": sum(1 for ti in tis if ti.task_id.startswith("dbt.")),
        "task_states": states,
        "failed": failed_tasks(run),
        "parse_seconds": parse_seconds,
        "producer_seconds": producer,
        "validate_seconds": durations.get("validate"),
        "prepare_seconds": durations.get("prepare"),
        "node_tasks": len(nodes),
        "node_task_seconds": sum(nodes),
        "docs_dag_state": state_name(docs_run.state),
        "docs_dag_seconds": docs_seconds,
        "report_seconds": docs_tasks.get("report"),
        "docs_seconds": docs_tasks.get("dbt_docs"),
        "data_docs_seconds": docs_tasks.get("data_docs"),
    }


def land_direct(work: Path, years: int, source: str | None = None, validate: bool = False) -> dict[str, Any]:
    """Every file of the statewide set (of ``source``) through ``land_file`` in this one process;
    with ``validate``, then GX's landing suite on every loaded submission, per source, as the
    ingest DAGs' validate task runs it (``validate_landing``): the DAGs' work without Airflow."""
    from benchmarks.statewide import land_files

    _env()
    files = _files(work / "statewide", years, source)
    if not validate:
        landed, rejected, seconds = land_files(work / "statewide", files)
        return {"rows": None, "seconds": seconds, "files": len(files), "landed": landed, "rejected": rejected}
    # Imported before the timer, as the DAG runs' process has them (_as_deployed).
    import great_expectations  # noqa: F401

    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.dq import validate_landing

    contracts = load_contracts()
    loaded: dict[str, list[int]] = {}
    landed, rejected, land_seconds = land_files(work / "statewide", files, loaded)
    start = time.perf_counter()
    for name, ids in loaded.items():
        validate_landing(contracts[name], ids)
    return {
        "rows": None,
        "seconds": land_seconds + time.perf_counter() - start,
        "land_seconds": land_seconds,
        "files": len(files),
        "landed": landed,
        "rejected": rejected,
        "validated": sum(len(ids) for ids in loaded.values()),
    }


def ingest_dags(
    work: Path, years: int, batch_files: int | None = None, source: str | None = None
) -> dict[str, Any]:
    """The statewide set (of ``source``) staged in the inboxes, then every (that) ingest DAG with
    ``dag.test()``; per-task seconds summed by task id."""
    if batch_files:
        os.environ["PIPELINE_LOAD_BATCH_FILES"] = str(batch_files)
    from benchmarks.statewide import statewide_set
    from innovation_pipeline import demo

    env = _env()
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    demo.migrate_airflow_db(env)
    parsed = demo.load_dags()
    _as_deployed(parsed)
    wanted = {f["path"].rsplit("/", 1)[-1] for f in _files(folder, years, source)}
    staged = demo.stage_samples(folder, include=lambda p: p.name in wanted)
    prefix = f"ingest_{source}" if source else "ingest_"
    dags = {k: v for k, v in parsed.items() if k.startswith(prefix)}
    runs = []
    by_task: dict[str, float] = {}
    land_task_seconds = validate_seconds = span_seconds = 0.0
    start = time.perf_counter()
    for dag_id in sorted(dags):
        outcome, run = demo.run_dag(dags[dag_id])
        span = tasks_span(run)
        span_seconds += span
        tis = run.get_task_instances()
        land_task_seconds += sum(float(ti.duration or 0) for ti in tis if ti.task_id == "land")
        validate_seconds += sum(float(ti.duration or 0) for ti in tis if ti.task_id == "validate")
        for ti in tis:
            by_task[ti.task_id] = by_task.get(ti.task_id, 0.0) + float(ti.duration or 0)
        runs.append(
            {
                "dag_id": dag_id,
                "state": outcome.state,
                "seconds": round(span, 1),
                "dag_test_seconds": round(outcome.seconds, 1),
                "tasks": len(tis),
                "land_tasks": sum(1 for ti in tis if ti.task_id == "land"),
                "failed": outcome.failed_tasks,
            }
        )
    test_seconds = time.perf_counter() - start
    return {
        "rows": None,
        "seconds": span_seconds,
        "dag_test_seconds": test_seconds,
        "files": staged,
        "years": manifest["years"],
        "runs": runs,
        "land_task_seconds": land_task_seconds,
        "validate_seconds": validate_seconds,
        "task_seconds": by_task,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["setup", "dbt_build", "build_marts", "land_direct", "ingest_dags"])
    parser.add_argument("--batch-files", type=int, default=None)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--mode", default="watcher")
    parser.add_argument("--source", default=None, help="land_direct, ingest_dags: one source's files only")
    parser.add_argument(
        "--validate", action="store_true", help="land_direct: then GX's landing suite, as the DAGs run it"
    )
    args = parser.parse_args(argv)
    if args.what == "setup":
        out = setup(args.work, args.years)
    elif args.what == "dbt_build":
        out = dbt_build(args.work)
    elif args.what == "land_direct":
        out = land_direct(args.work, args.years, args.source, args.validate)
    elif args.what == "ingest_dags":
        out = ingest_dags(args.work, args.years, args.batch_files, args.source)
    else:
        out = build_marts(args.work, args.mode)
    from benchmarks.measure import emit_result

    emit_result(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
