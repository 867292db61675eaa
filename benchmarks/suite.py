"""The test suite's wall time (issue 19: under 12 minutes on this machine), as CI runs it.

``make test`` (the README's test command, which ``.ci/run`` calls) in a child process, from the
project folder, with the caller's environment minus what the benchmark set for its own warehouse:
the suite starts its own PostgreSQL as it does for anyone who types the command. Its output goes
to ``<work>/suite.log``; pytest's summary line gives the counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.sections import Section

if TYPE_CHECKING:
    from benchmarks.run import Bench

TARGET_MINUTES = 12
TITLE = "The test suite (`make test`)"
HERE = Path(__file__).resolve().parent
#: Variables the benchmark exports for its own warehouse and Airflow; a user's shell has none.
BENCH_PREFIXES = ("WAREHOUSE_", "PIPELINE_", "AIRFLOW", "STUDENT_PSEUDONYM_KEY", "DBT_", "PYTHONPATH")


def _summary(output: str) -> tuple[dict[str, int], float | None]:
    """pytest's counts ('598 passed', '6 skipped', ...) and seconds from its last summary line."""
    line = next(
        (
            ln
            for ln in reversed(output.splitlines())
            if re.search(r"\b(passed|failed|error)", ln) and " in " in ln
        ),
        "",
    )
    counts = {
        word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", line)
    }
    seconds = re.search(r" in ([\d.]+)s", line)
    return counts, float(seconds.group(1)) if seconds else None


def suite_section(bench: Bench) -> Section:
    """Run ``make test`` once and report its wall time against the target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(BENCH_PREFIXES)}
    log = bench.work / "suite.log"
    print(f"Test suite: make test (output in {log}) ...", flush=True)
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(
            ["make", "test"], cwd=HERE.parent, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    wall = time.perf_counter() - start
    load_after = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    counts, pytest_seconds = _summary(log.read_text(encoding="utf-8", errors="replace"))
    minutes = wall / 60
    print(f"  {minutes:.1f} min, exit {proc.returncode}, {counts}", flush=True)
    passed = proc.returncode == 0
    met = passed and minutes < TARGET_MINUTES
    counted = ", ".join(f"{n} {word}" for word, n in counts.items()) or "no pytest summary found"
    verdict = (
        "met"
        if met
        else (
            f"MISSED: the suite failed (exit {proc.returncode}; {log})"
            if not passed
            else f"MISSED by {minutes - TARGET_MINUTES:.1f} min ({(minutes / TARGET_MINUTES - 1) * 100:.0f}% over)"
        )
    )
    lines = [
        f"`make test` from a shell without the benchmark's settings (its own embedded PostgreSQL, two "
        f"pytest-xdist workers, coverage on, as `.ci/run` runs it): **{minutes:.1f} min** wall time "
        f"({counted}; pytest's own count {pytest_seconds or float('nan'):.0f} s), exit code "
        f"{proc.returncode}. Load average before {load_before}, after {load_after}.",
    ]
    row = (
        f"| test suite < {TARGET_MINUTES} minutes (`make test`) | {minutes:.1f} min ({counted}) | {verdict} |"
    )
    return Section(
        TITLE, "measured", lines, {"minutes": minutes, "exit_code": proc.returncode, "target_row": row}
    )
