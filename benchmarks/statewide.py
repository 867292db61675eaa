"""The statewide set (all seven programs, N school years) through dbt and through the DAGs.

Run by ``benchmarks.run`` in child processes (``python -m benchmarks.statewide marts|dags``),
against the benchmark database. The set comes from ``innovation_samples.generator``
(``generate(out_dir, years=...)``): every program's submissions per year at the directory's real
district counts, with its defects, resubmissions and rejected files.

- ``marts``: land every file but one new submission (the last year's file of one district), build
  the marts, then time ``dbt run --full-refresh`` against landing that one submission and
  ``dbt run`` (the incremental marts rebuild only the partitions it touches).
- ``dags``: stage the whole set in the inboxes and run every ``ingest_<source>`` DAG and then
  ``build_marts`` with ``dag.test()``, as ``make demo`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

LAST_YEAR = 2025
HELD_BACK_SOURCE = "ky_local_labs"


def statewide_set(out_dir: Path, years: int) -> dict[str, Any]:
    """The sample inbox for ``years`` school years ending with LAST_YEAR (reused if already there)."""
    from innovation_samples.generator import generate

    wanted = list(range(LAST_YEAR - years + 1, LAST_YEAR + 1))
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("years") == wanted:
            return manifest
    return generate(out_dir, years=tuple(wanted))


def land_files(
    folder: Path, files: list[dict[str, Any]], loaded: dict[str, list[int]] | None = None
) -> tuple[int, int, float]:
    """``land_file`` on each of the set's ``files`` in this process; (landed, rejected, seconds).

    ``loaded``, if given, receives the submission ids that loaded, by source."""
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import FileRejected, land_file

    contracts = load_contracts()
    landed = rejected = 0
    start = time.perf_counter()
    for f in files:
        try:
            result = land_file(contracts[f["source"]], folder / f["path"])
            landed += 1
        except FileRejected:
            rejected += 1
            continue
        if loaded is not None and result.status == "loaded":
            loaded.setdefault(f["source"], []).append(int(result.submission_id))
    return landed, rejected, time.perf_counter() - start


def _dbt(args: list[str], work: Path) -> tuple[float, list[dict[str, Any]]]:
    """One dbt command through dbtRunner, with the flags build_marts gives it; wall seconds and
    per-node timings. Raises if it fails."""
    from dbt.cli.main import dbtRunner

    from innovation_pipeline.settings import dbt_project_dir

    project = str(dbt_project_dir())
    argv = [
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        # As build_marts runs dbt (marts.py): no manifest.json or run_results.json written.
        "--no-write-json",
        # Our own target and log folders: the project's are other people's working copies.
        "--target-path",
        str(work / "dbt_target"),
        "--log-path",
        str(work / "dbt_logs"),
        "--quiet",
    ]
    start = time.perf_counter()
    result = dbtRunner().invoke(argv)
    seconds = time.perf_counter() - start
    if not result.success:
        raise RuntimeError(
            f"dbt {' '.join(args)} failed: {result.exception or 'see ' + str(work / 'dbt_logs')}"
        )
    nodes = [
        {
            "name": r.node.name,
            "materialized": r.node.config.materialized,
            "seconds": round(r.execution_time, 3),
            "status": str(r.status),
        }
        for r in getattr(result.result, "results", []) or []
    ]
    return seconds, nodes


MARTS = ("fct_program_participation", "fct_district_outcomes", "cross_state_program_comparison")


def _mart_digests() -> dict[str, str]:
    """An order-independent digest of each mart's rows, without the high-water mark (which says
    when a row was built, and differs between an incremental run and a full refresh by design)."""
    import psycopg
    from psycopg import sql

    from innovation_pipeline.warehouse import conninfo

    out = {}
    with psycopg.connect(conninfo()) as conn:
        for name in MARTS:
            schema = conn.execute(
                "select table_schema from information_schema.tables where table_name = %s and table_schema like %s",
                (name, "%marts"),
            ).fetchone()[0]  # type: ignore[index]
            query = sql.SQL(
                "select md5(string_agg(r, chr(10) order by r)) from (select (to_jsonb(t) - "
                "'built_through_submission_id')::text as r from {} t) s"
            ).format(sql.Identifier(schema, name))
            row = conn.execute(query).fetchone()
            out[name] = row[0] if row else ""  # type: ignore[index]
    return out


def marts(work: Path, years: int) -> dict[str, Any]:
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import FileRejected, land_file

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    contracts = load_contracts()
    files = sorted(manifest["files"], key=lambda f: (f["source"], f["path"]))
    candidates = [
        f
        for f in files
        if f["source"] == HELD_BACK_SOURCE
        and f["school_year"] == LAST_YEAR
        and f["expected_status"] == "loaded"
    ]
    held = candidates[-1]
    start = time.perf_counter()
    landed = rejected = 0
    for f in files:
        if f is held:
            continue
        try:
            land_file(contracts[f["source"]], folder / f["path"])
            landed += 1
        except FileRejected:
            rejected += 1
    land_seconds = time.perf_counter() - start
    # A source with no file in the set (the real CDE workbook is not a sample) still has its table.
    import psycopg

    from innovation_pipeline.landing import ensure_landing_schema, ensure_raw_table
    from innovation_pipeline.warehouse import conninfo

    with psycopg.connect(conninfo(), autocommit=True) as conn:
        ensure_landing_schema(conn)
        for contract in contracts.values():
            ensure_raw_table(conn, contract)
    from innovation_pipeline.orchestration.marts_selection import plan_build, record_finished_build

    seed_seconds, _ = _dbt(["seed"], work)
    # The full refresh builds every model from scratch (and creates the incremental tables).
    plan = plan_build()
    full_seconds, full_nodes = _dbt(["run", "--full-refresh"], work)
    record_finished_build(plan)
    result = land_file(contracts[held["source"]], folder / held["path"])
    # As the marts DAG runs it: only what the new submission changed (marts_selection.py); the
    # plan's own queries are in the time.
    start = time.perf_counter()
    plan = plan_build()
    plan_seconds = time.perf_counter() - start
    inc_seconds, inc_nodes = _dbt(["run", *plan.dbt_args()], work)
    inc_seconds += plan_seconds
    record_finished_build(plan)
    selection = {"select": plan.select, "exclude": plan.exclude, "reason": plan.reason}
    # Nothing new: the plan says so and no dbt runs at all.
    start = time.perf_counter()
    idle_plan = plan_build()
    idle_seconds = time.perf_counter() - start
    if not idle_plan.nothing_to_do:
        more, _ = _dbt(["run", *idle_plan.dbt_args()], work)
        idle_seconds += more
        record_finished_build(idle_plan)
    # Before this mechanism: `dbt run` of everything (views re-created, every table rebuilt), with
    # nothing new; and dbt's start-up and parsing, building one tiny model.
    idle_all_seconds, _ = _dbt(["run"], work)
    startup_seconds, _ = _dbt(["run", "--select", "dim_school_year"], work)
    # The selected incremental build must equal a full refresh of the same data.
    incremental_marts = _mart_digests()
    full_again_seconds, _ = _dbt(["run", "--full-refresh"], work)
    equal = incremental_marts == _mart_digests()
    with psycopg.connect(conninfo()) as conn:
        raw_rows = conn.execute(
            "select coalesce(sum(rows_loaded), 0) from audit.submissions where status in ('loaded', 'superseded')"
        ).fetchone()[0]  # type: ignore[index]
        mart_rows = {
            name: conn.execute(
                "select coalesce(sum(n_live_tup), 0) from pg_stat_user_tables where schemaname like %s and relname = %s",
                ("%marts", name),
            ).fetchone()[0]  # type: ignore[index]
            for name in MARTS
        }
    return {
        "rows": None,
        "seconds": inc_seconds,
        "years": manifest["years"],
        "files": len(files),
        "landed": landed + 1,
        "rejected": rejected,
        "raw_rows": int(raw_rows),
        "mart_rows": {k: int(v) for k, v in mart_rows.items()},
        "land_seconds": land_seconds,
        "seed_seconds": seed_seconds,
        "full_refresh_seconds": full_seconds,
        "incremental_seconds": inc_seconds,
        "idle_seconds": idle_seconds,
        "idle_nothing_to_do": idle_plan.nothing_to_do,
        "load_average": round(os.getloadavg()[0], 2),
        "idle_all_seconds": idle_all_seconds,
        "startup_seconds": startup_seconds,
        "plan_seconds": plan_seconds,
        "selection": selection,
        "incremental_equals_full_refresh": equal,
        "full_again_seconds": full_again_seconds,
        "new_submission": {"file": held["path"].split("/")[-1], "rows": result.rows_received},
        "full_nodes": full_nodes,
        "incremental_nodes": inc_nodes,
    }


def dags(work: Path, years: int) -> dict[str, Any]:
    # Airflow reads its settings at import: the environment goes in first.
    from innovation_pipeline import demo

    env = demo.prepare_environment()
    folder = work / "statewide"
    manifest = statewide_set(folder, years)
    demo.migrate_airflow_db(env)
    staged = demo.stage_samples(folder)
    dags_found = demo.load_dags()
    start = time.perf_counter()
    outcomes = demo.run_all(dags_found)
    seconds = time.perf_counter() - start
    return {
        "rows": None,
        "seconds": seconds,
        "years": manifest["years"],
        "files": staged,
        "runs": [
            {"dag_id": o.dag_id, "state": o.state, "seconds": round(o.seconds, 1), "failed": o.failed_tasks}
            for o in outcomes
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["marts", "dags"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--years", type=int, default=10)
    args = parser.parse_args(argv)
    out = (marts if args.what == "marts" else dags)(args.work, args.years)
    from benchmarks.measure import emit_result

    emit_result(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
