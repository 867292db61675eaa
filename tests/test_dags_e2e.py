"""End to end through Airflow: sample files in the inboxes, every DAG run with ``dag.test()``.

The ingest DAGs land a few sample files per source (plus the real CDE workbook) into a database of
their own on the test server, then ``build_marts`` runs dbt through Cosmos, validates the marts with
GX and writes the report. The tests then check the marts, that the rejected sample files failed
only their own file task, and that running everything again changes nothing in the warehouse.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

MARTS_DAG = "build_marts"
#: Sample files on top of the first three of every source: a duplicate delivery, two rejected
#: files, and a state outcome file with its corrected resubmission (all outcome files are staged).
EXTRA_FILES = {
    "KY_LLL_005_2023-2024_resent.csv",  # same bytes as KY_LLL_005_2023-2024.csv: duplicate
    "KY_LLL_263_2022.csv",  # zero bytes: rejected (empty_file)
    "KY_LLL_481_2024.csv",  # the Proficient column is missing: rejected (missing_columns)
    "WA_state_outcomes_2022-2023.csv",
    "WA_state_outcomes_2022-2023_v2.csv",  # supersedes the file above
}
REJECTED = {"KY_LLL_263_2022.csv": "empty_file", "KY_LLL_481_2024.csv": "missing_columns"}
_ENV_KEYS = (
    "WAREHOUSE_URL",
    "PIPELINE_DATA_DIR",
    "PIPELINE_OUTPUT_DIR",
    "WAREHOUSE_HOST",
    "WAREHOUSE_PORT",
    "WAREHOUSE_USER",
    "WAREHOUSE_PASSWORD",
    "WAREHOUSE_DB",
    "AIRFLOW_CONN_WAREHOUSE",
    "DBT_PROFILES_DIR",
    "PIPELINE_RETRY_DELAY_SECONDS",
)


@dataclass
class Run:
    """What a DagRun left behind, read while its session is open."""

    dag_id: str
    state: str
    # (task_id, rendered map index or file name) -> state
    tasks: dict[tuple[str, str], str] = field(default_factory=dict)

    def states(self, task_id: str) -> dict[str, str]:
        return {name: s for (t, name), s in self.tasks.items() if t == task_id}


def _run(dag: Any) -> Run:
    from innovation_pipeline.demo import state_name

    dag_run = dag.test()
    run = Run(dag.dag_id, state_name(dag_run.state))
    for ti in dag_run.get_task_instances():
        name = ti.rendered_map_index or (str(ti.map_index) if ti.map_index >= 0 else "")
        run.tasks[(ti.task_id, name)] = state_name(ti.state)
    return run


def _subset(path: Path) -> bool:
    # Every state's outcome files (the marts suite expects all seven states), the first three files
    # of every other source, and the files that exercise duplicates, rejections and supersession.
    if path.parent.name == "state_outcomes":
        return True
    siblings = sorted(p.name for p in path.parent.iterdir())
    return path.name in EXTRA_FILES or path.name in siblings[:3]


@pytest.fixture(scope="module")
def pipeline(
    warehouse_url: str, tmp_path_factory: pytest.TempPathFactory, real_co_file: Path
) -> Iterator[Path]:
    """A database, inboxes and outputs of this module's own, with the sample subset staged."""
    import psycopg
    from psycopg import sql

    from innovation_pipeline import settings
    from innovation_pipeline.demo import migrate_airflow_db, stage_samples
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.orchestration.inbox import inbox
    from innovation_pipeline.samples import generate
    from innovation_pipeline.warehouse import export_environment, parse_url

    server = parse_url(warehouse_url)
    dbname = f"e2e_{secrets.token_hex(4)}"
    with psycopg.connect(server.with_dbname("postgres").url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    work = tmp_path_factory.mktemp("e2e")
    os.environ.update(
        WAREHOUSE_URL=server.with_dbname(dbname).url(),
        PIPELINE_DATA_DIR=str(work / "data"),
        PIPELINE_OUTPUT_DIR=str(work / "output"),
        DBT_PROFILES_DIR=str(settings.dbt_project_dir()),
        # dag.test() waits out a retry delay; a failing task should fail the test quickly.
        PIPELINE_RETRY_DELAY_SECONDS="1",
    )
    # What every task process needs: WAREHOUSE_* for dbt's profile, AIRFLOW_CONN_WAREHOUSE.
    os.environ.update(export_environment())
    try:
        migrate_airflow_db(dict(os.environ))
        ensure_manifest()
        generate(work / "samples")
        assert stage_samples(work / "samples", include=_subset) >= 45
        target = inbox("co_chronic_absenteeism")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real_co_file, Path(target.path) / real_co_file.name)
        yield work
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with psycopg.connect(server.with_dbname("postgres").url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


@pytest.fixture(scope="module")
def dags(pipeline: Path) -> dict[str, Any]:
    from innovation_pipeline.demo import load_dags

    return load_dags()


def _run_all(dags: dict[str, Any]) -> dict[str, Run]:
    order = [d for d in sorted(dags) if d != MARTS_DAG] + [MARTS_DAG]
    return {dag_id: _run(dags[dag_id]) for dag_id in order}


@pytest.fixture(scope="module")
def first_run(dags: dict[str, Any]) -> dict[str, Run]:
    return _run_all(dags)


@pytest.fixture()
def conn(pipeline: Path) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(os.environ["WAREHOUSE_URL"], autocommit=True) as c:
        yield c


def test_every_dag_run_succeeds(first_run: dict[str, Run]) -> None:
    bad = {d: (r.state, {k: s for k, s in r.tasks.items() if s != "success"}) for d, r in first_run.items()}
    assert all(r.state == "success" for r in first_run.values()), bad
    marts = first_run[MARTS_DAG]
    assert marts.states("validate") == {"": "success"}
    assert marts.states("publish") == {"": "success"}
    assert marts.states("report") == {"": "success"}
    assert any(t.startswith("dbt.") and s == "success" for (t, _), s in marts.tasks.items())


def test_a_bad_file_stops_no_other_file(first_run: dict[str, Run], conn: Any) -> None:
    run = first_run["ingest_ky_local_labs"]
    lands = run.states("land")
    # The files land in batches; a rejected file fails no batch, and its batch counts it.
    assert lands and set(lands.values()) == {"success"}, lands
    assert sum(int(label.rsplit(", ", 1)[1].split()[0]) for label in lands if "rejected" in label) == len(
        REJECTED
    ), lands
    # The rejections are flagged by a task of their own, which fails.
    assert run.states("rejected_files") == {"": "failed"}
    # Every other file of the batch landed.
    landed = {
        r[0]
        for r in conn.execute(
            "select file_name from audit.submissions where source = 'ky_local_labs' and status <> 'rejected'"
        ).fetchall()
    }
    assert len(landed) >= 3
    # The run went on: the loaded files were validated and published, and the run succeeded.
    assert run.states("validate") == {"": "success"}
    assert run.states("publish") == {"": "success"}
    assert run.state == "success"

    # The loader recorded each rejection, and the failure callback recorded each failed task
    # with the reason, where the data-quality report reads it.
    rejected = dict(
        conn.execute(
            "select file_name, reason_code from audit.submissions"
            " where source = 'ky_local_labs' and status = 'rejected'"
        ).fetchall()
    )
    assert rejected == REJECTED
    # One row per rejected file (recorded by its batch task, which goes on).
    failures = conn.execute(
        "select map_index, try_number, message from audit.task_failures"
        " where dag_id = 'ingest_ky_local_labs' and task_id = 'land' order by map_index"
    ).fetchall()
    assert len(failures) == len(REJECTED)
    for name in REJECTED:
        assert sum(name in message for _, _, message in failures) == 1, failures
    # A rejected file is not retried: the same bytes would be rejected again.
    assert {try_number for _, try_number, _ in failures} == {1}


def test_duplicates_and_resubmissions(first_run: dict[str, Run], conn: Any) -> None:
    statuses = dict(
        conn.execute(
            "select file_name, status from audit.submissions where file_name = any(%s)",
            (
                [
                    "KY_LLL_005_2023-2024_resent.csv",
                    "WA_state_outcomes_2022-2023.csv",
                    "WA_state_outcomes_2022-2023_v2.csv",
                ],
            ),
        ).fetchall()
    )
    assert statuses == {
        "KY_LLL_005_2023-2024_resent.csv": "duplicate",
        "WA_state_outcomes_2022-2023.csv": "superseded",
        "WA_state_outcomes_2022-2023_v2.csv": "loaded",
    }


def test_marts_hold_the_loaded_submissions_only(first_run: dict[str, Run], conn: Any) -> None:
    from psycopg import sql

    ky = conn.execute(
        "select distinct school_year from marts.fct_program_participation"
        " where program_id = 'ky_local_labs' and district_id = 'KY-005' order by 1"
    ).fetchall()
    assert [r[0] for r in ky] == [2022, 2023, 2024]
    # Every mart row traces back to a submission that is loaded now: nothing from a rejected,
    # duplicate or superseded file.
    for table in ("fct_program_participation", "fct_district_outcomes"):
        query = sql.SQL(
            "select count(*) from {} m join audit.submissions s"
            " on s.submission_id = m.last_submission_id where s.status <> 'loaded'"
        ).format(sql.Identifier("marts", table))
        assert conn.execute(query).fetchone()[0] == 0, table
    wa = conn.execute(
        "select distinct s.file_name from marts.fct_district_outcomes m"
        " join audit.submissions s on s.submission_id = m.last_submission_id"
        " where m.state = 'WA' and m.school_year = 2023"
    ).fetchall()
    assert [r[0] for r in wa] == ["WA_state_outcomes_2022-2023_v2.csv"]
    # The real CDE workbook made it through to the outcome mart.
    co = conn.execute(
        "select count(distinct district_id) from marts.fct_district_outcomes"
        " where state = 'CO' and school_year = 2023 and not is_state_total"
    ).fetchone()[0]
    assert co >= 150


def test_due_dates_flag_what_is_missing(first_run: dict[str, Run], conn: Any) -> None:
    """The due-date check the ingest DAGs run, against what actually landed."""
    import datetime as dt

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.orchestration.due import check_due
    from innovation_pipeline.warehouse import project_root

    ky = load_contract(project_root() / "programs" / "ky_local_labs.yml")
    due_2024 = check_due(ky, dt.date(2024, 8, 1), conn)
    assert (due_2024.school_year, due_2024.due_date) == (2024, dt.date(2024, 7, 15))
    assert "KY-005" in due_2024.submitters and not due_2024.overdue
    # The samples arrive long after their due dates, so the loader marked them late.
    assert "KY-005" in due_2024.late_submitters
    # A year later nothing has come for 2025 yet: overdue, and district KY-005 is named.
    due_2025 = check_due(ky, dt.date(2025, 8, 1), conn)
    assert due_2025.overdue and due_2025.submitters == [] and "KY-005" in due_2025.missing_submitters


def test_outputs_are_written(first_run: dict[str, Run]) -> None:
    from innovation_pipeline import settings

    out = settings.output_dir()
    assert (out / "dbt_docs" / "index.html").exists()
    assert (out / "dbt_docs" / "catalog.json").exists()
    assert any(out.rglob("index.html"))


def _warehouse_state(conn: Any) -> dict[str, Any]:
    """Row counts and content hashes of everything the pipeline writes, but the run logs."""
    from psycopg import sql

    state: dict[str, Any] = {}
    tables = conn.execute(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('raw', 'audit', 'ref', 'marts') and table_type = 'BASE TABLE'"
        " and table_name <> 'task_failures' order by 1, 2"
    ).fetchall()
    for schema, name in tables:
        ident = sql.Identifier(schema, name)
        # _loaded_at and the like are set once per row by the loader, so they take part too.
        query = sql.SQL(
            "select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} t"
        )
        state[f"{schema}.{name}"] = tuple(conn.execute(query.format(ident)).fetchone())
    return state


def test_a_rerun_changes_nothing(first_run: dict[str, Run], dags: dict[str, Any], conn: Any) -> None:
    """Every ingest DAG again on the same inboxes: all succeed, nothing lands, nothing changes.

    No raw Asset is updated (publish is skipped), so the scheduler would not rebuild the marts;
    the marts are compared all the same.
    """
    before = _warehouse_state(conn)
    assert before["marts.fct_program_participation"][0] > 0
    for dag_id in sorted(d for d in dags if d != MARTS_DAG):
        run = _run(dags[dag_id])
        assert run.state == "success", (dag_id, run.tasks)
        # Nothing new in the inbox: no file task ran, and the raw Asset was not updated.
        assert set(run.states("land").values()) <= {"skipped"}, (dag_id, run.states("land"))
        assert run.states("publish") == {"": "skipped"}, dag_id
        assert run.states("validate") == {"": "success"}, dag_id
    assert _warehouse_state(conn) == before
