"""Issue 19's targets: Airflow's overhead beside the direct work, measured side by side in one run.

- build_marts (dag.test()) beside a plain ``dbt build`` of the same project on the same warehouse,
  in child processes one after the other: dbt build, build_marts (watcher), dbt build again (the
  floor is the mean of the two, which brackets the DAG run in time on a shared machine);
  ``--marts-modes local`` adds the previous mode (a dbt invocation per task; many minutes).
- the statewide set's files through every ingest DAG (dag.test()) beside ``land_file`` on the
  same files in one process, each on a fresh database.

The DAG runs happen in a process started as a deployment's are when a run comes: it imported
``worker_preload`` and built dag.test()'s in-process execution API before the timer
(``benchmarks.orchestration._as_deployed``); the direct runs' timers start after their imports too.

The machine is shared: the load average is noted beside each figure, and the targets compare
ratios of runs made minutes apart, not absolute times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.sections import Section, _last_line

if TYPE_CHECKING:
    from benchmarks.run import Bench

#: How the DAG runs are made, as the tables say it.
DAG_RUN = "its tasks' span in dag.test(), the process started as a deployed worker's"
TARGET_MARTS_RATIO = 1.5
TARGET_INGEST_RATIO = 1.5
TITLE = "Airflow's overhead beside the direct work (issue 19)"
#: The source with the most small files in the statewide set: "an ingest run of N small files".
ONE_SOURCE = "co_local_accountability"
HERE = Path(__file__).resolve().parent


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _child(bench: Bench, *args: str, module: str = "benchmarks.orchestration") -> tuple[dict[str, Any], str]:
    r, _, _ = bench.child(*args, "--work", str(bench.work), module=module)
    return r, _load()


def _tasks(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in sorted(seconds.items(), key=lambda kv: -kv[1]))


def _verdict(ratio: float, target: float) -> str:
    if ratio <= target:
        return "met"
    return f"MISSED by {ratio - target:.2f} × ({(ratio / target - 1) * 100:.0f}% over)"


def marts_part(bench: Bench, years: int, modes: list[str]) -> tuple[list[str], list[str], dict[str, Any]]:
    """build_marts beside dbt build; (lines, target rows, values)."""
    bench.fresh_database()
    print(f"Issue 19: build_marts beside dbt build ({years} years landed) ...", flush=True)
    setup, _ = _child(bench, "setup", "--years", str(years))
    before, load_before = _child(bench, "dbt_build")
    print(f"  dbt build {before['seconds']:.1f} s (load {load_before})", flush=True)
    runs = []
    for mode in modes:
        r, load = _child(bench, "build_marts", "--mode", mode)
        print(f"  build_marts ({mode}) {r['seconds']:.1f} s, {r['state']} (load {load})", flush=True)
        runs.append((r, load))
    after, load_after = _child(bench, "dbt_build")
    print(f"  dbt build {after['seconds']:.1f} s (load {load_after})", flush=True)
    floor = (before["seconds"] + after["seconds"]) / 2
    lines = [
        f"The statewide set for {years} school years landed with land_file ({setup['landed']} files, "
        f"{setup['rejected']} rejected by design), the marts built once; then, one child process each:",
        "",
        "| run | state | wall time (s) | × dbt build | tasks | load average after (1, 5, 15 min) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
        f"| plain `dbt build` (dbtRunner), before | success | {before['seconds']:.1f} | — | — | {load_before} |",
    ]
    rows: list[str] = []
    values: dict[str, Any] = {"floor": floor}
    for r, load in runs:
        ratio = r["seconds"] / floor
        lines.append(
            f"| build_marts, {r['mode']} mode ({DAG_RUN}) | {r['state']} | {r['seconds']:.1f} | "
            f"{ratio:.2f} | {r['tasks']} ({r['dbt_tasks']} dbt) | {load} |"
        )
        values[r["mode"]] = r
        if r["mode"] == "watcher":
            rows.append(
                f"| build_marts ≤ {TARGET_MARTS_RATIO} × plain dbt build | {ratio:.2f} × "
                f"({r['seconds']:.0f} s vs {floor:.0f} s) | {_verdict(ratio, TARGET_MARTS_RATIO)} |"
            )
            lines_extra = [
                f"In the watcher run: prepare {r.get('prepare_seconds') or 0:.1f} s, the producer's `dbt build` "
                f"task {r['producer_seconds']:.1f} s ({r['producer_seconds'] / floor:.2f} × the plain build), "
                f"{r['node_tasks']} node tasks reporting its results {r['node_task_seconds']:.1f} s in all, GX "
                f"validation of the marts {r.get('validate_seconds') or 0:.1f} s; the rest of the run is "
                "Airflow's own (task start and state). The DAG run is timed from its first task's start "
                "to its last task's end; the `dag.test()` call took "
                f"{r.get('dag_test_seconds') or 0:.1f} s, parsing the DAG folder again before the run "
                "as every call does (a scheduled run does not wait for that: the DAG processor parses "
                "in the background).",
                "",
                f"Off the build's run, the `publish_docs` DAG its `marts_checked` Asset starts "
                f"({r.get('docs_dag_state')}): {r.get('docs_dag_seconds') or 0:.1f} s, of which "
                f"`dbt docs generate` {r.get('docs_seconds') or 0:.1f} s, GX Data Docs "
                f"{r.get('data_docs_seconds') or 0:.1f} s, the report {r.get('report_seconds') or 0:.1f} s.",
            ]
            values["lines_extra"] = lines_extra
    lines.append(
        f"| plain `dbt build` (dbtRunner), after | success | {after['seconds']:.1f} | — | — | {load_after} |"
    )
    lines += ["", *values.get("lines_extra", [])]
    return lines, rows, values


def ingest_part(bench: Bench, years: int, per_file: bool) -> tuple[list[str], list[str], dict[str, Any]]:
    """The ingest DAGs beside land_file on the same files; (lines, target rows, values)."""
    print(f"Issue 19: ingest DAGs beside land_file ({years} years) ...", flush=True)
    bench.fresh_database()
    direct, load_direct = _child(bench, "land_direct", "--years", str(years))
    print(f"  land_file, one process: {direct['seconds']:.1f} s (load {load_direct})", flush=True)
    bench.fresh_database()
    dags, load_dags = _child(bench, "ingest_dags", "--years", str(years))
    print(f"  ingest DAGs: {dags['seconds']:.1f} s (load {load_dags})", flush=True)
    ratio = dags["seconds"] / direct["seconds"]
    land_tasks = sum(x["land_tasks"] for x in dags["runs"])
    tasks = sum(x["tasks"] for x in dags["runs"])
    lines = [
        f"{direct['files']} files of the statewide set ({years} school years; {direct['rejected']} rejected "
        "by design), each way on a fresh database:",
        "",
        "| run | wall time (s) | × land_file | tasks | load average after |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| `land_file` on every file, one process | {direct['seconds']:.1f} | 1.00 | — | {load_direct} |",
        f"| every ingest DAG, files in batches ({DAG_RUN}) | {dags['seconds']:.1f} | {ratio:.2f} | "
        f"{tasks} ({land_tasks} land) | {load_dags} |",
    ]
    values: dict[str, Any] = {"ratio": ratio}
    if per_file:
        bench.fresh_database()
        old, load_old = _child(bench, "ingest_dags", "--years", str(years), "--batch-files", "1")
        lines.append(
            f"| every ingest DAG, one task per file (PIPELINE_LOAD_BATCH_FILES=1) | {old['seconds']:.1f} | "
            f"{old['seconds'] / direct['seconds']:.2f} | {sum(x['tasks'] for x in old['runs'])} | {load_old} |"
        )
    # One ingest run of N small files: the source with the most files in the set.
    bench.fresh_database()
    one_direct, load_one_direct = _child(bench, "land_direct", "--years", str(years), "--source", ONE_SOURCE)
    bench.fresh_database()
    one_gx, load_one_gx = _child(
        bench, "land_direct", "--years", str(years), "--source", ONE_SOURCE, "--validate"
    )
    bench.fresh_database()
    one, load_one = _child(bench, "ingest_dags", "--years", str(years), "--source", ONE_SOURCE)
    one_ratio = one["seconds"] / one_direct["seconds"]
    gx_ratio = one["seconds"] / one_gx["seconds"]
    print(
        f"  one run, {ONE_SOURCE}: {one['seconds']:.1f} s vs land_file {one_direct['seconds']:.1f} s",
        flush=True,
    )
    lines += [
        f"| `land_file` on the {one_direct['files']} files of `{ONE_SOURCE}`, one process | "
        f"{one_direct['seconds']:.1f} | 1.00 | — | {load_one_direct} |",
        f"| `land_file` on the same files, then GX's landing suite on each loaded submission "
        f"(`validate_landing`, as the DAG's validate task runs it), one process | {one_gx['seconds']:.1f} "
        f"| {one_gx['seconds'] / one_direct['seconds']:.2f} | — | {load_one_gx} |",
        f"| one `ingest_{ONE_SOURCE}` run of the same files ({DAG_RUN}) | {one['seconds']:.1f} | "
        f"{one_ratio:.2f} | {sum(x['tasks'] for x in one['runs'])} | {load_one} |",
        "",
        f"Of the DAGs' time, the land tasks took {dags['land_task_seconds']:.1f} s and GX validation of "
        f"the landed rows (which land_file alone does not do) {dags['validate_seconds']:.1f} s "
        f"({dags['validate_seconds'] / max(1, direct['landed']):.2f} s per landed submission).",
        f"In the one-source run: {_tasks(one['task_seconds'])}; the rest is Airflow's own.",
        "",
        "The DAG runs are timed from their first task's start to their last task's end; the "
        f"`dag.test()` calls took {dags['dag_test_seconds']:.1f} s (every DAG) and "
        f"{one['dag_test_seconds']:.1f} s (the one source), each first parsing the DAG folder again "
        "(a scheduled run does not wait for that: the DAG processor parses in the background).",
    ]
    land_ratio = dags["land_task_seconds"] / direct["seconds"]
    values["one_source"] = {"dag": one, "direct": one_direct, "direct_with_gx": one_gx}
    rows = [
        f"| one ingest run of N small files ≤ {TARGET_INGEST_RATIO} × land_file (`{ONE_SOURCE}`, "
        f"{one_direct['files']} files) | {one_ratio:.2f} × ({one['seconds']:.0f} s vs "
        f"{one_direct['seconds']:.0f} s) | {_verdict(one_ratio, TARGET_INGEST_RATIO)} |",
        f"| (the same run beside land_file and GX's landing suite in one process: Airflow's own share) | "
        f"{gx_ratio:.2f} × ({one['seconds']:.1f} s vs {one_gx['seconds']:.1f} s) | "
        f"{_verdict(gx_ratio, TARGET_INGEST_RATIO)} (not the target: the target's land_file does not validate) |",
        f"| (every ingest DAG, one run each, ≤ {TARGET_INGEST_RATIO} × land_file on the same files) | {ratio:.2f} × "
        f"({dags['seconds']:.0f} s vs {direct['seconds']:.0f} s) | {_verdict(ratio, TARGET_INGEST_RATIO)} |",
        f"| (the land tasks alone, ≤ {TARGET_INGEST_RATIO} × land_file) | {land_ratio:.2f} × "
        f"({dags['land_task_seconds']:.0f} s vs {direct['seconds']:.0f} s) | "
        f"{_verdict(land_ratio, TARGET_INGEST_RATIO)}; the rest is GX validation and per-task cost |",
    ]
    return lines, rows, values


def scheduler_part(bench: Bench, years: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """One new file to the marts through the real scheduler; (lines, target rows, values)."""
    from benchmarks.scheduler import TARGET_SECONDS

    print(f"Issue 19: one new file to the marts through the scheduler ({years} years landed) ...", flush=True)
    bench.fresh_database()
    r, load = _child(bench, "--years", str(years), module="benchmarks.scheduler")
    print(f"  {r['seconds']:.1f} s (load {load})", flush=True)
    states = f"ingest {r['ingest_state']}, build_marts {r['marts_state']}, publish_docs {r['docs_state']}"
    lines = [
        f"The statewide set for {years} school years landed but one file (`{r['file']}`), the marts built "
        "once; Airflow started as `make airflow` starts it (LocalExecutor, two task slots), every DAG's "
        "first run ended; then the file was copied into its inbox and nothing else done by hand. "
        f"Run states: {states}; load average after {load}.",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        f"| detection: file dropped → ingest run queued (inbox watcher) | {r['detection_seconds']:.1f} |",
        f"| landing: the ingest run, queued → ended | {r['landing_seconds']:.1f} |",
        f"| the raw Asset event → build_marts queued | {r['handover_seconds']:.1f} |",
        f"| marts: build_marts, queued → ended ({r['marts_tasks']} tasks; producer's dbt build "
        f"{r['marts_producer_seconds']:.1f} s, {r['marts_node_tasks']} node tasks, "
        f"{r.get('marts_node_tasks_skipped', 0)} of them skipped: not selected) | {r['marts_seconds']:.1f} |",
        f"| **file dropped → marts updated** | **{r['seconds']:.1f}** |",
        f"| (after it, off the target: publish_docs) | {r['docs_seconds']:.1f} |",
        "",
        f"What the build's dbt ran (audit.marts_finished_builds): `{r.get('marts_selection') or 'not recorded'}`.",
    ]
    verdict = "met" if r["seconds"] < TARGET_SECONDS else f"MISSED by {r['seconds'] - TARGET_SECONDS:.0f} s"
    rows = [
        f"| one new district file to marts through the real scheduler < {TARGET_SECONDS:.0f} s | "
        f"{r['seconds']:.0f} s (detection {r['detection_seconds']:.0f}, landing {r['landing_seconds']:.0f}, "
        f"marts {r['marts_seconds']:.0f}) | {verdict} |"
    ]
    return lines, rows, r


#: Run alone, this section's table points to where `make bench` reports the other targets.
NOT_MEASURED = [
    "| loader ≥ 0.5 × bare COPY, peak < 300 MB, ahead of dlt and earthmover | in `benchmarks/RESULTS.md` "
    "(loaders section) | see there |",
    "| incremental marts ≤ 0.2 × full refresh, nothing-new run near dbt's start-up | in "
    "`benchmarks/RESULTS.md` (marts section) | see there |",
    "| test suite < 12 minutes | in `benchmarks/RESULTS.md` (`make bench` runs `make test`) | see there |",
]


HEADINGS = {
    "marts": "build_marts beside dbt build",
    "ingest": "Ingest beside land_file",
    "scheduler": "One new file to the marts through the real scheduler",
}


def why_missed(values: dict[str, Any]) -> list[str]:
    """Why each missed Airflow target is missed, from this run's figures, and what was tried."""
    out: list[str] = []
    marts = values.get("marts") or {}
    r = marts.get("watcher")
    if r and marts.get("floor") and r["seconds"] / marts["floor"] > TARGET_MARTS_RATIO:
        floor = marts["floor"]
        out.append(
            f"**build_marts** is missed because the watcher design's floor is its producer: the "
            f"producer's `dbt build` alone took {r['producer_seconds']:.1f} s "
            f"({r['producer_seconds'] / floor:.2f} × the plain build; Cosmos turns each of dbt's "
            "events into JSON in the task and pushes every node's status to XCom), and dag.test() "
            f"runs the {r['node_tasks']} node tasks that report its results after it, one at a time "
            f"({r['node_task_seconds']:.1f} s), where a scheduler runs them beside it. Tried: "
            "watcher mode instead of a dbt invocation per node (local mode takes minutes), no "
            "source-freshness tasks, node tasks of what a build leaves out skipped by the producer, "
            "no manifest.json written by the build, dbt, Cosmos and GX preloaded by the workers. "
            "Not done: fewer, coarser tasks (the per-model results and tests would no longer show "
            "in Airflow)."
        )
    one = (values.get("ingest") or {}).get("one_source")
    if one and one["dag"]["seconds"] / one["direct"]["seconds"] > TARGET_INGEST_RATIO:
        dag, direct, with_gx = one["dag"], one["direct"], one["direct_with_gx"]
        validate = dag["task_seconds"].get("validate", 0.0)
        validated = with_gx.get("validated") or 1
        out.append(
            f"**The ingest run** is missed because GX validates each landed submission on its own: "
            f"{validate:.1f} s of the run's {dag['seconds']:.1f} s ({validate / validated:.2f} s a "
            f"submission, more than land_file takes for a small file: {direct['seconds'] / direct['files']:.2f} s). "
            f"land_file and the same GX suite in one process take {with_gx['seconds']:.1f} s, and the "
            f"DAG run {dag['seconds'] / with_gx['seconds']:.2f} × that: Airflow's own share is "
            f"{'within' if dag['seconds'] / with_gx['seconds'] <= TARGET_INGEST_RATIO else 'beyond'} "
            f"the target's {TARGET_INGEST_RATIO} ×. Profiled, about 90% of a landing validation is GX's own Python "
            "(each expectation's configuration rebuilt on every access, metric ids hashed as JSON) "
            "and 7% the SQL. Tried: batches of files per land task (it was a task per file), one GX "
            "context per run, GX's validator directly instead of a Checkpoint, a first pass in GX's "
            "BASIC result format, the district crosswalk built once per reference version, the "
            "listing's submission keys read once per batch. Not done: one GX batch for all of a "
            "run's submissions (each submission would lose its own result, which the report shows "
            "district by district)."
        )
    return out


def issue19_section(bench: Bench, years: int, modes: list[str], per_file: bool = False) -> Section:
    """The issue 19 section: the figures, then the targets table with verdicts."""
    lines: list[str] = []
    rows: list[str] = []
    values: dict[str, Any] = {}
    for name, part in (
        ("marts", lambda: marts_part(bench, years, modes)),
        ("ingest", lambda: ingest_part(bench, years, per_file)),
        ("scheduler", lambda: scheduler_part(bench, years)),
    ):
        try:
            part_lines, part_rows, part_values = part()
        except RuntimeError as exc:
            part_lines, part_rows, part_values = [f"**{name} failed**: {_last_line(exc)}"], [], {}
            print(f"  {name} failed: {exc}", flush=True)
        lines += [f"### {HEADINGS[name]}"]
        lines += ["", *part_lines, ""]
        rows += part_rows
        values[name] = part_values
    lines += [
        "### Targets (issue 19)",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        *rows,
        *NOT_MEASURED,
    ]
    missed = why_missed(values)
    if missed:
        lines += ["", *[part for text in missed for part in (text, "")]][:-1]
    # benchmarks.run puts these rows in its one table of issue 19's targets.
    values["target_rows"] = rows
    return Section(TITLE, "measured", lines, values)


def main(argv: list[str] | None = None) -> int:
    """Run this section alone and write it to ``benchmarks/RESULTS-orchestration.md`` (a
    working file, not committed: ``make bench`` writes the section into ``benchmarks/RESULTS.md``)."""
    from benchmarks.run import Bench

    parser = argparse.ArgumentParser(description="Issue 19's Airflow-overhead targets")
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--marts-modes", default="watcher")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS-orchestration.md")
    args = parser.parse_args(argv)
    from innovation_pipeline.warehouse import project_root

    work = args.work or project_root() / ".warehouse" / "bench"
    started = dt.datetime.now(dt.UTC)
    bench = Bench(work)
    load = _load()
    section = issue19_section(bench, args.years, args.marts_modes.split(","))
    head = [
        f"# {TITLE}",
        "",
        f"Written by `python -m benchmarks.airflow_sections --years {args.years}` on "
        f"{started:%Y-%m-%d %H:%M} UTC (load average at start {load}; 2 cores shared with other "
        "work). Do not edit by hand: run it again.",
        "",
    ]
    args.results.write_text("\n".join([*head, *section.lines]) + "\n", encoding="utf-8")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
