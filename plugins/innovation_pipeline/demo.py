"""``make demo``: the whole pipeline on the bundled sample submissions, through the real Airflow DAGs.

Steps: generate the samples, drop them into the inboxes, migrate Airflow's metadata database if
needed, then run every ``ingest_<source>`` DAG and then ``build_marts`` with ``dag.test()`` (the
same DAG code the scheduler runs; nothing is loaded behind Airflow's back). Any DagRun that does
not succeed makes the demo exit non-zero. Rejected sample files fail only their own file task, by
design, and are listed at the end with the reason the loader gave.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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

    Files are copied in file-name order, so that their arrival times (which the ingest DAGs land
    them in, and which decide which of two deliveries supersedes the other) follow that order, as
    the sample manifest assumes. Copying the same samples again changes nothing the DAGs would load.
    ``include`` picks a subset (the end-to-end tests use a few files per source).
    """
    from airflow.sdk import ObjectStoragePath

    from innovation_pipeline.orchestration.inbox import inbox

    count = 0
    for folder in sorted(p for p in (samples_dir / "inbox").iterdir() if p.is_dir()):
        target = inbox(folder.name)
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(p for p in folder.iterdir() if p.is_file() and (include is None or include(p))):
            dest = ObjectStoragePath(str(target).rstrip("/") + "/" + file.name, conn_id=target.conn_id)
            if dest.exists() and dest.stat().get("size") == file.stat().st_size:
                if dest.read_bytes() == file.read_bytes():
                    count += 1
                    continue
            with file.open("rb") as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst)
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
    """Failed task instances of a run, a mapped one named by its file (``land[KY_LLL_...csv]``)."""
    return sorted(
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        for ti in dag_run.get_task_instances()
        if state_name(ti.state) in ("failed", "upstream_failed")
    )


def run_dag(dag: Any) -> tuple[RunOutcome, Any]:
    """Run one DAG with ``dag.test()`` and describe how its run ended."""
    started = time.monotonic()
    dag_run = dag.test()
    seconds = time.monotonic() - started
    return RunOutcome(dag.dag_id, state_name(dag_run.state), seconds, failed_tasks(dag_run)), dag_run


def run_all(dags: dict[str, Any]) -> list[RunOutcome]:
    """Every ingest DAG (sorted), then the marts DAG: the order the raw Assets impose."""
    from innovation_pipeline.orchestration.config import MARTS_DAG_ID

    order = [d for d in sorted(dags) if d != MARTS_DAG_ID] + [MARTS_DAG_ID]
    outcomes = []
    for dag_id in order:
        outcome, _ = run_dag(dags[dag_id])
        print(
            f"[demo] {dag_id}: {outcome.state} in {outcome.seconds:.0f}s"
            + (f"; failed tasks: {', '.join(outcome.failed_tasks)}" if outcome.failed_tasks else ""),
            flush=True,
        )
        outcomes.append(outcome)
    return outcomes


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
            f"{len(rejected)} sample file(s) were rejected on purpose (each failed only its own task):"
        )
        lines += [f"  - {source}/{name}: {reason}" for source, name, reason in rejected]
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
    """Run the pipeline end to end on the sample submissions; 0 when every DagRun succeeded."""
    env = prepare_environment()
    from innovation_pipeline import settings
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.samples import generate

    samples_dir = Path(samples_dir) if samples_dir else settings.data_dir() / "samples"
    print(f"[demo] writing sample submissions to {samples_dir}", flush=True)
    generate(samples_dir)
    print(
        f"[demo] {stage_samples(samples_dir)} sample files in the inboxes at {settings.inbox_url()}",
        flush=True,
    )
    for name in stage_real_files():
        print(f"[demo] real state file in the inbox: {name}", flush=True)
    print(f"[demo] Airflow metadata database in {env['AIRFLOW_HOME']}", flush=True)
    migrate_airflow_db(env)
    print(f"[demo] dbt manifest: {ensure_manifest()}", flush=True)
    outcomes = run_all(load_dags())
    failed = [o for o in outcomes if not o.ok]
    if failed:
        for o in failed:
            print(
                f"[demo] FAILED: {o.dag_id} ended {o.state}; failed tasks: {', '.join(o.failed_tasks) or 'none'}",
                file=sys.stderr,
            )
        print(
            f"[demo] failures are recorded in audit.task_failures; logs under {env['AIRFLOW_HOME']}",
            file=sys.stderr,
        )
        return 1
    print(summary(outcomes), flush=True)
    return 0
