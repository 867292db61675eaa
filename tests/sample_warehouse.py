"""The sample inbox landed once and the marts built once, for every test that only reads them.

The generated inbox itself is written once per session too (``sample_inbox``). Landing every file (and the real CDE workbook), validating each landing with GX
and a full ``dbt build`` take a few minutes on two cores; the read-only modules (test_dbt_project,
test_docs, test_samples_landing, test_report_samples) share one such warehouse per session through
the ``sample_warehouse`` fixture of conftest.py (test_samples_landing needs only the landing,
``sample_landing``, the same database before GX and dbt). A test that changes it works on a copy
(``sample_warehouse_copy``): PostgreSQL copies the built database as a template in seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from env_helpers import pointed_at

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
#: A full dbt build or a clone may wait on the other helpers' load: generous, never the limit.
DBT_TIMEOUT = 1800


@dataclass
class DbtRun:
    returncode: int
    output: str


def run_dbt(work: Path, *args: str, project: Path = DBT_PROJECT) -> DbtRun:
    """Run the dbt beside this Python with the warehouse's environment; outputs stay in ``work``."""
    from innovation_pipeline.warehouse import export_environment

    env = {**os.environ, **export_environment(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=DBT_TIMEOUT, check=False)
    return DbtRun(done.returncode, done.stdout + done.stderr)


@dataclass
class SampleInbox:
    """The sample generator's output: ``folder/inbox/<source>/<file>`` and its manifest."""

    folder: Path
    manifest: dict[str, Any]


def generate_inbox(folder: Path) -> SampleInbox:
    """Write the sample inbox (the generator is deterministic: every session writes the same)."""
    from innovation_samples import generate

    return SampleInbox(folder, generate(folder))


@dataclass
class SampleWarehouse:
    """A database holding the landed sample inbox and the marts built from it."""

    url: str
    #: The generator's manifest, and the folder it wrote (``inbox/<source>/...``).
    manifest: dict[str, Any]
    folder: Path
    #: dbt's target and logs (partial parsing makes later dbt commands start faster).
    work: Path
    #: The full ``dbt build --warn-error`` and its run_results.json as it wrote them.
    build: DbtRun
    build_results: dict[str, Any]
    #: Loaded submission ids per source, and the GX landing summaries of them.
    landed: dict[str, list[int]] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)

    def dbt(self, *args: str) -> DbtRun:
        return run_dbt(self.work, *args)

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


def land_samples(samples: SampleInbox, real_co_file: Path) -> dict[str, list[int]]:
    """Land every file of the sample inbox through the loader, as the ingest DAGs do:
    each source's files in file-name order (an inbox listing's order, which the manifest's expected
    outcomes assume), and the real CDE workbook with Colorado's outcomes."""
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.landing import FileRejected, land_file

    folder, manifest = samples.folder, samples.manifest
    contracts = load_contracts()
    paths = [(e["source"], folder / e["path"]) for e in manifest["files"]]
    # The real CDE workbook carries Colorado's State Total, which must stay as reported.
    paths.append(("co_chronic_absenteeism", real_co_file))
    expected = {e["path"]: e["expected_status"] for e in manifest["files"]}
    landed: dict[str, list[int]] = {}
    for source, path in sorted(paths, key=lambda p: (p[0], p[1].name)):
        try:
            result = land_file(contracts[source], path)
        except FileRejected:
            relative = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.name
            assert expected.get(relative) == "rejected", f"{path} was rejected"
            continue
        if result.status == "loaded":
            landed.setdefault(source, []).append(result.submission_id)
    return landed


@dataclass
class SampleLanding:
    """A database holding the landed sample inbox (``landed``: loaded submission ids per source)."""

    url: str
    samples: SampleInbox
    landed: dict[str, list[int]]


def land_sample_inbox(url: str, samples: SampleInbox, real_co_file: Path) -> SampleLanding:
    """Land the samples into the (empty) database at ``url``."""
    with pointed_at(url):
        return SampleLanding(url, samples, land_samples(samples, real_co_file))


def build_sample_warehouse(landing: SampleLanding, tmp: Path) -> SampleWarehouse:
    """On the landed samples: validate each source's landings with GX, then build every dbt
    model, seed and test with warnings as errors."""
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.dq import validate_landing
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    work = tmp / "dbt"
    work.mkdir(parents=True, exist_ok=True)
    with pointed_at(landing.url):
        contracts = load_contracts()
        summaries = {s: validate_landing(contracts[s], ids) for s, ids in sorted(landing.landed.items())}
        prepare_warehouse()  # roles and grants first: the marts' post-hook publishes them with row security
        build = run_dbt(work, "build", "--warn-error")
    results_file = work / "target" / "run_results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else {}
    samples = landing.samples
    return SampleWarehouse(
        landing.url, samples.manifest, samples.folder, work, build, results, landing.landed, summaries
    )


def _terminate_others(conn: Any, dbname: str) -> None:
    conn.execute(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
        (dbname,),
    )


@contextmanager
def copy_of(warehouse: SampleWarehouse, tmp: Path) -> Iterator[SampleWarehouse]:
    """A copy of the built warehouse (``create database ... template``) with a dbt work folder of
    its own; ``WAREHOUSE_URL`` points at the copy while the block runs, and the copy is dropped."""
    import psycopg
    from psycopg import sql

    from innovation_pipeline.warehouse import parse_url

    source = parse_url(warehouse.url)
    server = source.with_dbname("postgres")
    name = f"{source.dbname}_copy_{secrets.token_hex(3)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        # A template must have no other session: pooled connections of earlier tests are closed.
        for attempt in range(20):
            _terminate_others(conn, source.dbname)
            try:
                conn.execute(
                    sql.SQL("create database {} template {}").format(
                        sql.Identifier(name), sql.Identifier(source.dbname)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    work = tmp / name
    shutil.copytree(warehouse.work / "target", work / "target")
    copy = replace(warehouse, url=source.with_dbname(name).url(), work=work)
    try:
        with pointed_at(copy.url):
            yield copy
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
