"""The dbt warehouse end to end: the sample submissions land through the real loader, real dbt
builds every model and test against a real PostgreSQL, and the marts are checked from outside dbt.

The warehouse is the session's shared one (``sample_warehouse`` in conftest.py: one landing and one
``dbt build`` for every read-only module). The threshold test puts it back and checks it did; the
resubmission test lands a new file, so it works on a copy.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sample_warehouse import SampleWarehouse as Warehouse
from sample_warehouse import run_dbt

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
SEEDS = DBT_PROJECT / "seeds"
MARTS_WITH_CELLS = ("fct_program_participation", "fct_district_outcomes")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse_url(sample_warehouse_url: str) -> str:
    """The session's shared sample warehouse (other tests land made-up programs in the session
    database; this one holds only the samples)."""
    return sample_warehouse_url


@pytest.fixture(scope="module")
def warehouse(sample_warehouse: Warehouse, warehouse_url: str) -> Warehouse:
    return sample_warehouse


def seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def seed_thresholds() -> dict[str, int]:
    return {row["state"]: int(row["threshold"]) for row in seed_rows("suppression_thresholds")}


def default_threshold() -> int:
    """The threshold of a state the seed does not list: the project's ``suppression_threshold_default``."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text(encoding="utf-8"))
    return int(project["vars"]["suppression_threshold_default"])


def person_count_measures() -> set[str]:
    return {
        row["measure_id"]
        for row in seed_rows("measures")
        if row["value_type"] == "count" and row["suppression_rule"] == "count"
    }


def published_counts(wh: Warehouse) -> list[tuple[str, str, str, float]]:
    """Every person count a mart publishes: (mart, state, measure, count)."""
    counts = person_count_measures()
    found: list[tuple[str, str, str, float]] = []
    for mart in MARTS_WITH_CELLS:
        for state, measure, value, behind in wh.rows(
            f"select state, measure_id, value, count_behind from marts.{mart}"
        ):
            if value is not None and measure in counts:
                found.append((mart, state, measure, float(value)))
            if behind is not None:
                found.append((mart, state, measure, float(behind)))
    for row in wh.rows(
        "select state, measure_id, participating_value, participating_count, non_participating_value,"
        " non_participating_count from marts.cross_state_program_comparison"
    ):
        state, measure, *values = row
        for i, value in enumerate(values):
            is_count_column = i % 2 == 1
            if value is not None and (is_count_column or measure in counts):
                found.append(("cross_state_program_comparison", state, measure, float(value)))
    return found


def program_count_cells(wh: Warehouse, state: str) -> dict[tuple[str, str, int, str], tuple[Any, ...]]:
    """fct_program_participation's person-count cells of one state, keyed by cell."""
    counts = person_count_measures()
    return {
        (program, district, year, measure): (value, reason)
        for program, district, year, measure, value, reason in wh.rows(
            "select program_id, district_id, school_year, measure_id, value, suppression_reason"
            " from marts.fct_program_participation where state = %s",
            (state,),
        )
        if measure in counts
    }


def expected_count_suppression(
    wh: Warehouse, state: str, threshold: int
) -> dict[tuple[Any, ...], str | None]:
    """The suppression rules re-implemented in Python on the true (intermediate) values.

    Primary: suppressed at source, or below the threshold. Complementary: in a program, year and
    measure with exactly one suppressed cell, the smallest published cell is hidden too.
    """
    counts = person_count_measures()
    groups: dict[tuple[str, int, str], list[tuple[str, float | None, bool]]] = defaultdict(list)
    for program, district, year, measure, value, at_source in wh.rows(
        "select program_id, district_id, school_year, measure_id, value, is_suppressed_at_source"
        " from intermediate.int_program_measures__unioned where state = %s",
        (state,),
    ):
        if measure in counts:
            groups[(program, year, measure)].append(
                (district, None if value is None else float(value), at_source)
            )
    expected: dict[tuple[Any, ...], str | None] = {}
    for (program, year, measure), cells in groups.items():
        reasons: dict[str, str | None] = {}
        for district, value, at_source in cells:
            if at_source:
                reasons[district] = "suppressed_at_source"
            elif value is not None and value < threshold:
                reasons[district] = "below_threshold"
            else:
                reasons[district] = None
        hidden = [d for d, r in reasons.items() if r is not None]
        shown = sorted((value, district) for district, value, _ in cells if reasons[district] is None)
        if len(hidden) == 1 and shown:
            reasons[shown[0][1]] = "complementary"
        for district, reason in reasons.items():
            expected[(program, district, year, measure)] = reason
    return expected


def snapshot(wh: Warehouse, mart: str) -> set[tuple[Any, ...]]:
    """A mart's rows without the lineage columns an incremental rebuild legitimately moves."""
    columns = [
        name
        for (name,) in wh.rows(
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = %s order by ordinal_position",
            (mart,),
        )
        if name not in {"built_through_submission_id", "loaded_at", "last_submission_id"}
    ]
    from psycopg import sql

    query = sql.SQL("select {} from marts.{}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(mart)
    )
    import psycopg

    with psycopg.connect(wh.url, autocommit=True) as conn:
        return set(conn.execute(query).fetchall())


def test_build_passes_with_no_warnings(warehouse: Warehouse) -> None:
    assert warehouse.build.returncode == 0, warehouse.build.output[-6000:]
    assert "WARN=0" in warehouse.build.output and "ERROR=0" in warehouse.build.output
    results = warehouse.build_results
    statuses = {r["status"] for r in results["results"]}
    assert statuses <= {"success", "pass"}, statuses
    kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
    assert {"model", "test", "seed", "unit_test"} <= kinds


LEGACY_MODELS = ROOT / "tests" / "legacy_int_models"


def test_generated_models_equal_the_hand_written_ones_they_replaced(
    warehouse: Warehouse, session_tmp: Path
) -> None:
    """Differential test: the district-measures models dbt_codegen writes from the contracts give
    exactly the rows of the hand-written models they replaced (kept in tests/legacy_int_models),
    on the same landed samples. The legacy models run as views in a copy of the project."""
    import shutil

    copy = session_tmp / "legacy_project"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(DBT_PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs"))
    legacy = copy / "models" / "legacy"
    legacy.mkdir()
    names = sorted(p.stem for p in LEGACY_MODELS.glob("*.sql"))
    assert len(names) == 9
    for name in names:
        body = (LEGACY_MODELS / f"{name}.sql").read_text(encoding="utf-8")
        # The generated staging model names a student id's pseudonym after its field.
        body = body.replace("student_key", "student_id_key")
        (legacy / f"legacy_{name}.sql").write_text(
            "{{ config(materialized='view', schema='legacy') }}\n" + body, encoding="utf-8"
        )
    done = run_dbt(session_tmp / "legacy_dbt", "run", "--select", "path:models/legacy", project=copy)
    assert done.returncode == 0, done.output[-4000:]
    for name in names:
        legacy_rows = warehouse.rows(f"select * from legacy.legacy_{name}")
        generated_rows = warehouse.rows(f"select * from intermediate.{name}")
        assert legacy_rows, name
        assert sorted(map(repr, generated_rows)) == sorted(map(repr, legacy_rows)), name


def test_comparison_has_every_program_and_sample_year(warehouse: Warehouse) -> None:
    from innovation_pipeline.contracts import load_contracts

    programs = {c.program for c in load_contracts().values() if c.kind == "program"}
    assert programs == {
        row["program_id"] for row in seed_rows("programs") if row["program_id"] != "state_outcomes"
    }
    years = set(warehouse.manifest["years"])
    found = set(
        warehouse.rows("select distinct program_id, school_year from marts.cross_state_program_comparison")
    )
    assert found == {(p, y) for p in programs for y in years}
    # Several kinds of measure side by side, never a single score.
    groups = {
        g
        for (g,) in warehouse.rows("select distinct measure_group from marts.cross_state_program_comparison")
    }
    assert {"participation", "funding", "credits", "proficiency", "outcome"} <= groups


def test_no_mart_publishes_a_count_below_its_state_threshold(warehouse: Warehouse) -> None:
    thresholds = seed_thresholds()
    counts = published_counts(warehouse)
    assert len(counts) > 500
    default = default_threshold()
    low = [c for c in counts if c[3] < thresholds.get(c[1], default)]
    assert low == []
    # And suppression is really at work on the samples, not vacuously passing.
    (suppressed,) = warehouse.rows(
        "select count(*) from marts.fct_program_participation where is_suppressed"
    )[0]
    assert suppressed > 0


def test_suppressed_cells_publish_no_value_and_say_why(warehouse: Warehouse) -> None:
    for mart in MARTS_WITH_CELLS:
        bad = warehouse.rows(
            f"select count(*) from marts.{mart} where is_suppressed"
            " and (value is not null or count_behind is not null or suppression_reason is null)"
        )[0][0]
        assert bad == 0, mart
    # Values suppressed at source stay suppressed.
    leaked = warehouse.rows(
        "select count(*) from intermediate.int_program_measures__unioned i"
        " join marts.fct_program_participation f using (program_id, district_id, school_year, measure_id)"
        " where i.is_suppressed_at_source and f.value is not null"
    )[0][0]
    assert leaked == 0


def test_state_totals_are_kept_as_reported(warehouse: Warehouse) -> None:
    rows = warehouse.rows(
        "select f.value, r.enrollment from marts.fct_district_outcomes f"
        " join raw.co_chronic_absenteeism r on r.row_kind = 'state_total' and r.school_year = f.school_year"
        " where f.state = 'CO' and f.is_state_total and f.measure_id = 'enrollment'"
        " and f.source = 'co_chronic_absenteeism'"
    )
    assert rows, "Colorado's State Total row is missing from fct_district_outcomes"
    for published, reported in rows:
        assert published == reported


def test_fact_rows_carry_their_districts_lea_type(warehouse: Warehouse) -> None:
    """Charters, BOCES and state-run LEAs keep their figures in the fact marts, typed as the
    reference directory types them, so a comparison never mixes them silently."""
    for mart in MARTS_WITH_CELLS:
        rows = warehouse.rows(
            f"select f.district_id, f.lea_type, coalesce(d.lea_type, 'regular') from marts.{mart} f"
            " left join ref.districts d on d.district_id = f.district_id where f.district_id is not null"
        )
        assert rows, mart
        wrong = {(district, got, want) for district, got, want in rows if got != want}
        assert wrong == set(), (mart, sorted(wrong)[:5])
    totals = warehouse.rows(
        "select count(*) from marts.fct_district_outcomes where is_state_total and lea_type is not null"
    )[0][0]
    assert totals == 0


def test_the_real_cde_file_reaches_the_outcome_mart_whole(warehouse: Warehouse, real_co_file: Path) -> None:
    """Every district row of CDE's workbook (counted in the file itself) and its State Total."""
    import re

    import openpyxl

    sheet = openpyxl.load_workbook(real_co_file, read_only=True).worksheets[0]
    rows = [
        tuple(str(v).strip() if v is not None else "" for v in row)
        for row in sheet.iter_rows(values_only=True)
    ]
    header = next(i for i, row in enumerate(rows) if "District Code" in row)
    column = rows[header].index("District Code")
    codes = {
        row[column]
        for row in rows[header + 1 :]
        if re.fullmatch(r"\d{4}", row[column] if len(row) > column else "")
    }
    assert len(codes) == 185
    published = warehouse.rows(
        "select count(distinct district_id), count(*) filter (where is_state_total)"
        " from marts.fct_district_outcomes"
        " where state = 'CO' and school_year = 2023 and source = 'co_chronic_absenteeism' and measure_id = 'enrollment'"
    )
    assert published == [(len(codes), 1)]
    assert {
        r[0]
        for r in warehouse.rows(
            "select distinct district_id from marts.fct_district_outcomes where state = 'CO' and school_year = 2023 and source = 'co_chronic_absenteeism'"
        )
        if r[0]
    } == {f"CO-{c}" for c in codes}


def test_student_identifiers_never_reach_the_marts(warehouse: Warehouse) -> None:
    columns = warehouse.rows(
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'marts' and (column_name like '%%student_id%%' or column_name like '%%student_key%%')"
    )
    assert columns == []


def test_changing_a_threshold_changes_exactly_the_cells_it_should(warehouse: Warehouse) -> None:
    state = "KY"
    base = seed_thresholds()[state]
    before = program_count_cells(warehouse, state)
    assert {k: v[1] for k, v in before.items()} == expected_count_suppression(warehouse, state, base)
    others_before = {m: snapshot(warehouse, m) for m in (*MARTS_WITH_CELLS, "cross_state_program_comparison")}

    published = sorted(v[0] for v in before.values() if v[0] is not None)
    raised = int(published[len(published) // 4]) + 1  # hides about a quarter more of the published cells
    try:
        run = warehouse.dbt(
            "build",
            "--select",
            "int_suppression_thresholds+",
            "--vars",
            json.dumps({"suppression_threshold_overrides": {state: raised}}),
        )
        assert run.returncode == 0, run.output[-6000:]
        after = program_count_cells(warehouse, state)
        assert {k: v[1] for k, v in after.items()} == expected_count_suppression(warehouse, state, raised)
        flipped = [k for k in before if before[k][0] is not None and after[k][0] is None]
        assert flipped, "the raised threshold hid nothing"
        assert all(after[k][0] == before[k][0] for k in before if after[k][0] is not None)
        # Nothing outside the state moved.
        for mart, rows in others_before.items():
            outside = {r for r in rows if state not in r}
            assert outside <= snapshot(warehouse, mart), mart
        assert not [c for c in published_counts(warehouse) if c[1] == state and c[3] < raised]
    finally:
        # The incremental models notice the threshold went back and rebuild the state's partitions.
        restored = warehouse.dbt("build", "--select", "int_suppression_thresholds+")
    assert restored.returncode == 0, restored.output[-6000:]
    assert program_count_cells(warehouse, state) == before
    for mart, rows in others_before.items():
        assert snapshot(warehouse, mart) == rows, mart


def test_a_resubmission_rebuilds_only_its_partition(sample_warehouse_copy: Warehouse, tmp_path: Path) -> None:
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.landing import land_file

    warehouse = sample_warehouse_copy
    original = warehouse.folder / "inbox" / "wa_mastery_learning" / "WA_OSPI_MBL_2023-24.csv"
    lines = original.read_bytes().decode("cp1252").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NCES LEA ID"))
    cells = lines[header + 1].split(";")
    lea, cells[3] = cells[0], "917"  # Students in Mastery-Based Learning
    lines[header + 1] = ";".join(cells)
    corrected = tmp_path / "WA_OSPI_MBL_2023-24_v3.csv"
    corrected.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

    def lineage() -> dict[tuple[str, int], set[int]]:
        marks: dict[tuple[str, int], set[int]] = defaultdict(set)
        for program, year, mark in warehouse.rows(
            "select program_id, school_year, built_through_submission_id from marts.fct_program_participation"
        ):
            marks[(program, year)].add(mark)
        return marks

    before = lineage()
    result = land_file(load_contract(ROOT / "programs" / "wa_mastery_learning.yml"), corrected)
    assert result.status == "loaded" and result.superseded
    # As the marts DAG does after a landing: the models downstream of the source, incrementally.
    run = warehouse.dbt("build", "--select", "stg_wa_mastery_learning__district_participation+")
    assert run.returncode == 0, run.output[-6000:]
    after = lineage()
    assert after[("wa_mastery_learning", 2024)] == {result.submission_id}
    assert {k: v for k, v in after.items() if k != ("wa_mastery_learning", 2024)} == {
        k: v for k, v in before.items() if k != ("wa_mastery_learning", 2024)
    }
    value = warehouse.rows(
        "select f.value from marts.fct_program_participation f join ref.districts d using (district_id)"
        " where d.nces_lea_id = %s and f.program_id = 'wa_mastery_learning' and f.school_year = 2024"
        " and f.measure_id = 'students_participating'",
        (lea,),
    )
    assert value == [(917,)]
    stale = warehouse.rows(
        "select count(*) from staging.stg_wa_mastery_learning__district_participation s"
        " join audit.submissions a on a.submission_id = s.submission_id where a.status <> 'loaded'"
    )[0][0]
    assert stale == 0
    # The comparison mart rebuilt the resubmission's school year only, and to what a full
    # refresh builds.
    rebuilt = {
        year
        for (year,) in warehouse.rows(
            "select distinct school_year from marts.cross_state_program_comparison"
            " where built_through_submission_id >= %s",
            (result.submission_id,),
        )
    }
    assert rebuilt == {2024}
    incremental = snapshot(warehouse, "cross_state_program_comparison")
    full = warehouse.dbt("run", "--full-refresh", "--select", "cross_state_program_comparison")
    assert full.returncode == 0, full.output[-6000:]
    assert snapshot(warehouse, "cross_state_program_comparison") == incremental


def test_a_build_runs_only_what_changed_and_equals_a_full_refresh(
    sample_warehouse_copy: Warehouse, tmp_path: Path
) -> None:
    """The marts build's selection (orchestration/marts_selection.py): everything when no build
    has finished, nothing when nothing changed, and after a resubmission only the tables downstream
    of its source and of the audit, with the same marts as a full refresh."""
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.landing import FileRejected, land_file
    from innovation_pipeline.orchestration.marts_selection import (
        models_not_selected,
        plan_build,
        record_finished_build,
    )

    warehouse = sample_warehouse_copy

    def build(*args: str) -> None:
        run = warehouse.dbt("run", *args)
        assert run.returncode == 0, run.output[-6000:]

    first = plan_build()
    assert first.select is None and first.dbt_args() == []
    build()
    record_finished_build(first)
    idle = plan_build()
    assert idle.nothing_to_do, idle.reason

    original = warehouse.folder / "inbox" / "wa_mastery_learning" / "WA_OSPI_MBL_2023-24.csv"
    lines = original.read_bytes().decode("cp1252").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NCES LEA ID"))
    cells = lines[header + 1].split(";")
    cells[3] = "941"  # Students in Mastery-Based Learning
    lines[header + 1] = ";".join(cells)
    corrected = tmp_path / "WA_OSPI_MBL_2023-24_v4.csv"
    corrected.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    result = land_file(load_contract(ROOT / "programs" / "wa_mastery_learning.yml"), corrected)
    assert result.status == "loaded"

    plan = plan_build()
    # A correction of a year already submitted: the school years are left alone.
    assert plan.select == ["source:raw.wa_mastery_learning+", "submission_quality"]
    assert plan.exclude == ["config.materialized:view"]
    # What the marts DAG reports as skipped is what dbt itself leaves out of the selection.
    listed = warehouse.dbt(
        "ls",
        "--resource-type",
        "model",
        "seed",
        "--output",
        "json",
        "--output-keys",
        "unique_id",
        *plan.dbt_args(),
    )
    assert listed.returncode == 0, listed.output[-6000:]
    in_dbt = {json.loads(line)["unique_id"] for line in listed.output.splitlines() if line.startswith("{")}
    everything = {
        uid
        for uid, node in json.loads((warehouse.work / "target" / "manifest.json").read_text())[
            "nodes"
        ].items()
        if node["resource_type"] in ("model", "seed")
    }
    assert in_dbt and set(models_not_selected(plan)) == everything - in_dbt
    run = warehouse.dbt("run", *plan.dbt_args())
    assert run.returncode == 0, run.output[-6000:]
    record_finished_build(plan)
    results = json.loads((warehouse.work / "target" / "run_results.json").read_text())["results"]
    ran_names = {r["unique_id"].rsplit(".", 1)[-1] for r in results}
    # No view re-created; nothing of the outcomes rebuilt: a program submission cannot change
    # them (the outcome mart reads the directory's districts, not dim_district, which lists the
    # names every submission used).
    assert "stg_wa_mastery_learning__district_participation" not in ran_names
    assert not {"int_district_outcomes__unioned", "fct_district_outcomes"} & ran_names
    assert {"fct_program_participation", "cross_state_program_comparison", "submission_quality"} <= ran_names
    assert plan_build().nothing_to_do

    # A file of a school year no submission had (here one the loader rejects) adds the year.
    unreadable = tmp_path / "WA_OSPI_MBL_2030-31.csv"
    unreadable.write_bytes(b"\x00\x01 not a report\r\n")
    try:
        rejected = land_file(load_contract(ROOT / "programs" / "wa_mastery_learning.yml"), unreadable)
        assert rejected.status == "rejected"
    except FileRejected:
        pass
    new_year = plan_build()
    assert new_year.select == ["source:raw.wa_mastery_learning+", "submission_quality", "dim_school_year"]
    build(*new_year.dbt_args())
    record_finished_build(new_year)
    assert (2031,) in warehouse.rows("select school_year from marts.dim_school_year")

    models = (*MARTS_WITH_CELLS, "cross_state_program_comparison", "submission_quality", "dim_school_year")
    selected = {m: snapshot(warehouse, m) for m in models}
    [(before_full_refresh,)] = warehouse.rows("select now()")
    build("--full-refresh")
    assert {m: snapshot(warehouse, m) for m in models} == selected
    # A full refresh leaves the planner statistics of every table it built, incremental models
    # included (their post-hook analyzes a small change only past autovacuum's threshold).
    stale = warehouse.rows(
        "select relname from pg_stat_user_tables where schemaname in ('marts', 'intermediate')"
        " and (last_analyze is null or last_analyze < %s)",
        (before_full_refresh,),
    )
    assert stale == []


def test_marts_are_published_to_analysts_with_state_row_security(warehouse: Warehouse) -> None:
    """dbt's post-hook grants each mart to analysts and scopes state rows to state roles."""
    import psycopg
    from psycopg import sql

    from innovation_pipeline.access import state_role
    from innovation_pipeline.warehouse import ConnectionParts, parse_url

    base = parse_url(warehouse.url)
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        ky = state_role(conn, "KY")
        for login, group in (("dbt_analyst_all", "pipeline_analyst"), ("dbt_analyst_ky", ky)):
            if not conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
                conn.execute(
                    sql.SQL("create role {} login in role {}").format(
                        sql.Identifier(login), sql.Identifier(group)
                    )
                )

    def states(login: str) -> set[str]:
        url = ConnectionParts(base.host, base.port, login, "", base.dbname).url()
        with psycopg.connect(url) as conn:
            return {
                r[0] for r in conn.execute("select distinct state from marts.cross_state_program_comparison")
            }

    everyone = states("dbt_analyst_all")
    assert {"CO", "KY", "MT", "NH", "ND", "UT", "WA"} <= everyone
    assert states("dbt_analyst_ky") == {"KY"}
    secured = warehouse.rows(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'marts' and c.relkind = 'r' and c.relrowsecurity"
    )
    assert {"cross_state_program_comparison", "fct_district_outcomes", "fct_program_participation"} <= {
        r[0] for r in secured
    }
