"""End to end through Airflow: sample files in the inboxes, every DAG run with ``dag.test()``.

The ingest DAGs land a few sample files per source (plus the real CDE workbook) into a database of
their own on the test server, then ``build_marts`` runs dbt through Cosmos, validates the marts with
GX and writes the report. The tests then check the marts, that the rejected sample files failed
only their own file task, and that running everything again changes nothing in the warehouse.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from env_helpers import PipelineEnvironment
from sample_warehouse import SampleInbox

pytestmark = pytest.mark.slow

MARTS_DAG = "build_marts"
DOCS_DAG = "publish_docs"
#: Sample files on top of the first three of every source: a duplicate delivery, two rejected
#: files, and a state outcome file with its corrected resubmission (all outcome files are staged).
EXTRA_FILES = {
    # KY-851 (the sample stand-in for Allen County) in every year; its code no longer sorts first.
    "KY_LLL_851_2021-22.csv",
    "KY_LLL_851_2022-23.csv",
    "KY_LLL_851_2023-24.csv",
    "KY_LLL_851_2023-24_resent.csv",  # same bytes as KY_LLL_851_2023-24.csv: duplicate
    "KY_LLL_822_2022.csv",  # zero bytes: rejected (empty_file)
    "KY_LLL_920_2024.csv",  # the Proficient column is missing: rejected (missing_columns)
    "WA_state_outcomes_2022-2023.csv",
    "WA_state_outcomes_2022-2023_v2.csv",  # supersedes the file above
}
REJECTED = {"KY_LLL_822_2022.csv": "empty_file", "KY_LLL_920_2024.csv": "missing_columns"}


@dataclass
class Run:
    """What a DagRun left behind, read while its session is open."""

    dag_id: str
    state: str
    # (task_id, rendered map index or file name) -> state
    tasks: dict[tuple[str, str], str] = field(default_factory=dict)
    # (task_id, rendered map index or file name) -> tries (0: the scheduler never started it)
    tries: dict[tuple[str, str], int] = field(default_factory=dict)

    def states(self, task_id: str) -> dict[str, str]:
        return {name: s for (t, name), s in self.tasks.items() if t == task_id}


def _run(dag: Any) -> Run:
    from innovation_pipeline.demo import state_name

    dag_run = dag.test()
    run = Run(dag.dag_id, state_name(dag_run.state))
    for ti in dag_run.get_task_instances():
        name = ti.rendered_map_index or (str(ti.map_index) if ti.map_index >= 0 else "")
        run.tasks[(ti.task_id, name)] = state_name(ti.state)
        run.tries[(ti.task_id, name)] = int(ti.try_number or 0)
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
    pipeline_environment: PipelineEnvironment,
    sample_inbox: SampleInbox,
    tmp_path_factory: pytest.TempPathFactory,
    real_co_file: Path,
) -> Path:
    """A database, inboxes and outputs of this module's own, with the sample subset staged."""
    from innovation_pipeline import settings
    from innovation_pipeline.demo import migrate_airflow_db, stage_samples
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.orchestration.inbox import inbox

    work = tmp_path_factory.mktemp("e2e")
    pipeline_environment.use(
        PIPELINE_DATA_DIR=str(work / "data"),
        PIPELINE_OUTPUT_DIR=str(work / "output"),
        DBT_PROFILES_DIR=str(settings.dbt_project_dir()),
        # dag.test() waits out a retry delay; a failing task should fail the test quickly.
        PIPELINE_RETRY_DELAY_SECONDS="1",
    )
    migrate_airflow_db(dict(os.environ))
    ensure_manifest()
    assert stage_samples(sample_inbox.folder, include=_subset) >= 45
    target = inbox("co_chronic_absenteeism")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real_co_file, Path(target.path) / real_co_file.name)
    return work


@pytest.fixture(scope="module")
def dags(pipeline: Path) -> dict[str, Any]:
    from innovation_pipeline.demo import load_dags

    return load_dags()


def _run_all(dags: dict[str, Any]) -> dict[str, Run]:
    # The order the Assets impose: the ingest DAGs, the marts, then the docs and report.
    order = [d for d in sorted(dags) if d not in (MARTS_DAG, DOCS_DAG)] + [MARTS_DAG, DOCS_DAG]
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
    assert marts.states("checked") == {"": "success"}
    docs = first_run[DOCS_DAG]
    assert {t for t, _ in docs.tasks} == {"dbt_docs", "data_docs", "report"}
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
                    "KY_LLL_851_2023-24_resent.csv",
                    "WA_state_outcomes_2022-2023.csv",
                    "WA_state_outcomes_2022-2023_v2.csv",
                ],
            ),
        ).fetchall()
    )
    assert statuses == {
        "KY_LLL_851_2023-24_resent.csv": "duplicate",
        "WA_state_outcomes_2022-2023.csv": "superseded",
        "WA_state_outcomes_2022-2023_v2.csv": "loaded",
    }


def test_marts_hold_the_loaded_submissions_only(first_run: dict[str, Run], conn: Any) -> None:
    from psycopg import sql

    ky = conn.execute(
        "select distinct school_year from marts.fct_program_participation"
        " where program_id = 'ky_local_labs' and district_id = 'KY-851' order by 1"
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


def test_due_dates_flag_what_is_missing(
    first_run: dict[str, Run], conn: Any, pipeline: Path, sample_inbox: SampleInbox
) -> None:
    """The due-date check the ingest DAGs run, against what actually landed."""
    import datetime as dt
    import json

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.orchestration.due import check_due
    from innovation_pipeline.warehouse import project_root

    ky = load_contract(project_root() / "programs" / "ky_local_labs.yml")
    due_2024 = check_due(ky, dt.date(2024, 8, 1), conn)
    assert (due_2024.school_year, due_2024.due_date) == (2024, dt.date(2024, 7, 15))
    assert "KY-851" in due_2024.submitters and not due_2024.overdue
    # The staged files keep the samples' arrival times: late exactly where the manifest says so.
    manifest = json.loads((sample_inbox.folder / "manifest.json").read_text(encoding="utf-8"))
    late = {
        e["submitter"]
        for e in manifest["files"]
        if e["source"] == "ky_local_labs"
        and e["school_year"] == 2024
        and e["expected_status"] in ("loaded", "superseded")
        and e["expected_late"]
        and _subset(sample_inbox.folder / e["path"])
    }
    assert set(due_2024.late_submitters) == late
    assert set(due_2024.submitters) - late, "every KY submission of 2024 was late"
    # A year later nothing has come for 2025 yet: overdue, and district KY-851 is named.
    due_2025 = check_due(ky, dt.date(2025, 8, 1), conn)
    assert due_2025.overdue and due_2025.submitters == [] and "KY-851" in due_2025.missing_submitters


def test_outputs_are_written(first_run: dict[str, Run]) -> None:
    from innovation_pipeline import settings

    out = settings.output_dir()
    assert (out / "dbt_docs" / "index.html").exists()
    assert (out / "dbt_docs" / "catalog.json").exists()
    # The docs DAG rendered the GX Data Docs of every landing and mart validation of the run.
    assert list((out / "data_docs" / "validations" / "landing").rglob("*.html"))
    assert list((out / "data_docs" / "validations" / "marts").rglob("*.html"))
    assert any(out.rglob("index.html"))


PRODUCER = "dbt.dbt_producer_watcher"
V = TypeVar("V")
#: A district file the module's first runs did not stage (_subset): a district new to the marts.
NEW_FILE = "KY_LLL_797_SY2022.csv"
NEW_DISTRICT = "KY-797"


def _per_node(values: dict[tuple[str, str], V]) -> dict[str, V]:
    """A run's per-task values of each dbt node's task (``<node>.run``, ``.seed``, ``.test``),
    Cosmos's own tasks aside."""
    return {
        task_id.removeprefix("dbt."): value
        for (task_id, _), value in values.items()
        if task_id.startswith("dbt.") and not task_id.startswith(PRODUCER)
    }


def _node_states(run: Run) -> dict[str, str]:
    """The state of each dbt node's task."""
    return _per_node(run.tasks)


def _node_tries(run: Run) -> dict[str, int]:
    """How often each dbt node's task was started (0: never; the producer skipped it itself)."""
    return _per_node(run.tries)


def _last_finished_build(conn: Any) -> str:
    row = conn.execute(
        "select selection from audit.marts_finished_builds order by build_seq desc limit 1"
    ).fetchone()
    return str(row[0]) if row else ""


def _marts_rows(conn: Any) -> dict[str, set[tuple[Any, ...]]]:
    """Every mart table's rows, without the lineage columns a selected build legitimately moves."""
    from psycopg import sql

    lineage = {"built_through_submission_id", "loaded_at", "last_submission_id"}
    columns: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "select c.table_name, c.column_name from information_schema.columns c"
        " join information_schema.tables t using (table_schema, table_name)"
        " where c.table_schema = 'marts' and t.table_type = 'BASE TABLE' order by c.ordinal_position"
    ).fetchall():
        if column not in lineage:
            columns.setdefault(table, []).append(column)
    return {
        table: set(
            conn.execute(
                sql.SQL("select {} from {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier("marts", table)
                )
            ).fetchall()
        )
        for table, cols in columns.items()
    }


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
    ``build_marts`` is then run by hand, and must change nothing either.
    """
    before = _warehouse_state(conn)
    assert before["marts.fct_program_participation"][0] > 0
    for dag_id in sorted(d for d in dags if d not in (MARTS_DAG, DOCS_DAG)):
        run = _run(dags[dag_id])
        assert run.state == "success", (dag_id, run.tasks)
        # Nothing new in the inbox: no file task ran, and the raw Asset was not updated.
        assert set(run.states("land").values()) <= {"skipped"}, (dag_id, run.states("land"))
        assert run.states("publish") == {"": "skipped"}, dag_id
        assert run.states("validate") == {"": "success"}, dag_id
    assert _warehouse_state(conn) == before
    # A manual trigger: nothing arrived since the last build, so dbt runs nothing, every node's task
    # ends skipped, and the marts are still validated and published.
    marts = _run(dags[MARTS_DAG])
    assert marts.state == "success", marts.tasks
    assert marts.states("validate") == {"": "success"}
    assert marts.states("publish") == {"": "success"}
    assert marts.states(PRODUCER) == {"": "success"}
    assert set(_node_states(marts).values()) == {"skipped"}, _node_states(marts)
    # Skipped by the producer, not started: no node task cost a worker anything.
    assert not [t for t, tries in _node_tries(marts).items() if tries], _node_tries(marts)
    assert _last_finished_build(conn) == "nothing"
    after = _warehouse_state(conn)
    # A build records its own snapshot row and, once it succeeded, its selection; the marts must be
    # what they were.
    for state in (before, after):
        state.pop("audit.marts_builds", None)
        state.pop("audit.marts_finished_builds", None)
    assert after == before


def test_a_new_file_rebuilds_only_its_downstream(
    first_run: dict[str, Run], dags: dict[str, Any], conn: Any, sample_inbox: SampleInbox, tmp_path: Path
) -> None:
    """After one new district file, ``build_marts`` runs only the tables downstream of its source
    (orchestration/marts_selection.py): the producer's ``dbt build`` gets the selection, the tasks of
    the nodes left out end skipped, and the marts equal what a full rebuild makes of the same data."""
    from sample_warehouse import run_dbt

    from innovation_pipeline.demo import stage_samples

    # The module's first build had no finished build before it: everything.
    first = conn.execute(
        "select selection from audit.marts_finished_builds order by build_seq limit 1"
    ).fetchone()
    assert first == ("everything",)
    assert first_run[MARTS_DAG].states(PRODUCER) == {"": "success"}
    assert "skipped" not in set(_node_states(first_run[MARTS_DAG]).values())

    def new_district_rows() -> int:
        return int(
            conn.execute(
                "select count(*) from marts.fct_program_participation"
                " where program_id = 'ky_local_labs' and district_id = %s",
                (NEW_DISTRICT,),
            ).fetchone()[0]
        )

    assert new_district_rows() == 0
    assert stage_samples(sample_inbox.folder, include=lambda p: p.name == NEW_FILE) == 1
    ingest = _run(dags["ingest_ky_local_labs"])
    assert ingest.state == "success", ingest.tasks
    assert ingest.states("publish") == {"": "success"}

    marts = _run(dags[MARTS_DAG])
    assert marts.state == "success", marts.tasks
    # The source's tables, the submission audit's, and those on the landing checks (the ingest run
    # validated the new submission); not the school years (the file's year had submissions).
    assert _last_finished_build(conn) == (
        "--select source:raw.ky_local_labs+ submission_quality"
        " source:dq.validation_runs+ source:dq.expectation_results+ --exclude config.materialized:view"
    )
    nodes = _node_states(marts)
    ran = {name for name, state in nodes.items() if state == "success"}
    skipped = {name for name, state in nodes.items() if state == "skipped"}
    assert ran | skipped == set(nodes), nodes
    # Built: the tables on the source (the programs' union, the marts), and the submission audit's.
    assert {
        "int_program_measures__unioned.run",
        "fct_program_participation.run",
        "fct_program_participation.test",
        "cross_state_program_comparison.run",
        "submission_quality.run",
    } <= ran, sorted(ran)
    # Left alone: the views (the source's own staging too), the other sources' tables, the seeds
    # (their tests ran if they also test a table that was built: a mart's relationships to them).
    assert {
        "stg_ky_local_labs__competency_defenses.run",
        "stg_ky_local_labs__competency_defenses.test",
        "int_ky_local_labs__district_measures.run",
        "int_wa_mastery_learning__district_measures.run",
        "int_state_outcomes__district_measures.run",
        "programs.seed",
        "measures.seed",
        # A program's file changes no outcome and no school year.
        "fct_district_outcomes.run",
        "dim_school_year.run",
    } <= skipped, sorted(skipped)
    # The producer marked the nodes it left out skipped itself: none of their tasks was started.
    started = {t for t, tries in _node_tries(marts).items() if tries}
    assert not {"int_state_outcomes__district_measures.run", "programs.seed", "measures.seed"} & started
    assert {"fct_program_participation.run", "cross_state_program_comparison.run"} <= started
    assert marts.states("validate") == {"": "success"}
    assert marts.states("publish") == {"": "success"}
    assert new_district_rows() > 0

    # A full rebuild of the same data makes the same marts.
    selected = _marts_rows(conn)
    full = run_dbt(tmp_path, "run", "--full-refresh")
    assert full.returncode == 0, full.output[-6000:]
    assert _marts_rows(conn) == selected


def test_a_reprocess_run_relands_the_archive(
    first_run: dict[str, Run], dags: dict[str, Any], conn: Any
) -> None:
    """A run triggered with ``{"reprocess": true}`` lands every current file of the source again.

    Each becomes a new version superseding the old with the same counts (the contract did not
    change), the inbox is not listed, and the raw Asset is updated so the marts rebuild.
    """
    from innovation_pipeline.demo import state_name

    source = "co_local_accountability"
    query = (
        "select submission_id, file_name, rows_received, rows_loaded, rows_quarantined"
        " from audit.submissions where source = %s and status = 'loaded' order by file_name"
    )
    before = conn.execute(query, (source,)).fetchall()
    assert len(before) >= 3

    dag_run = dags[f"ingest_{source}"].test(run_conf={"reprocess": True})
    tasks = {ti.task_id: state_name(ti.state) for ti in dag_run.get_task_instances()}
    assert state_name(dag_run.state) == "success", tasks
    assert tasks["reprocess"] == "success"
    assert tasks["publish"] == "success"
    assert tasks.get("land", "skipped") == "skipped"

    after = conn.execute(query, (source,)).fetchall()
    assert [r[1:] for r in after] == [r[1:] for r in before]
    assert not {r[0] for r in after} & {r[0] for r in before}
    superseded = dict(
        conn.execute(
            "select submission_id, superseded_by from audit.submissions where submission_id = any(%s)",
            ([r[0] for r in before],),
        ).fetchall()
    )
    new_by_name = {r[1]: r[0] for r in after}
    assert superseded == {r[0]: new_by_name[r[1]] for r in before}
    # The old versions' rows stay as history beside the new ones.
    kept = conn.execute(
        "select count(distinct _submission_id) from raw.co_local_accountability where _submission_id = any(%s)",
        ([r[0] for r in before],),
    ).fetchone()[0]
    assert kept == len(before)

    # An ordinary run afterwards finds nothing new: the reprocessed files are not in the inbox again.
    rerun = _run(dags[f"ingest_{source}"])
    assert rerun.states("reprocess") == {"": "skipped"}
    assert rerun.states("publish") == {"": "skipped"}
