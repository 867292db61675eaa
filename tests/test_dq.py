"""Data-quality checks against the real PostgreSQL fixture, with real Great Expectations.

The first tests build a raw landing table by hand (in the layout of programs/README.md) so the GX
runner, the dq schema and masking are tested independently of the loader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from innovation_pipeline.contracts import load_contract, load_contracts
from innovation_pipeline.dq import ensure_dq_schema, validate_landing
from innovation_pipeline.dq.masking import MASK, is_sensitive, mask_row, neutralize_formula
from innovation_pipeline.dq.suites import build_landing_suite, hand_written, landing_suite_path
from innovation_pipeline.landing import ensure_raw_table

ROOT = Path(__file__).resolve().parents[1]
KY = ROOT / "programs" / "ky_local_labs.yml"

COMPETENCIES = ["resiliency", "cultural_competency", "innovation", "communication", "collaboration"]


def _insert(db, submission_id: int, rows: list[tuple]) -> None:
    for n, (grade, competency, eligible, defended, proficient, suppressed) in enumerate(rows, start=2):
        db.execute(
            """insert into raw.ky_local_labs (_submission_id, _source_row, row_kind, state, district_id,
                   school_year, grade, competency, students_eligible, students_eligible__suppressed,
                   students_defended, students_defended__suppressed, students_proficient,
                   students_proficient__suppressed)
               values (%s, %s, 'district', 'KY', 'KY-001', 2024, %s, %s, %s, %s, %s, false, %s, false)""",
            (submission_id, n, grade, competency, eligible, suppressed, defended, proficient),
        )


@pytest.fixture(scope="module")
def warehouse_url(isolated_warehouse_url: str) -> str:
    """These tests drop and count raw and dq tables: they get a database of their own."""
    return isolated_warehouse_url


@pytest.fixture()
def ky_raw(db):
    # The table as the loader makes it from the contract, not a hand-written copy that drifts.
    db.execute("create schema if not exists raw")
    db.execute("drop table if exists raw.ky_local_labs")
    ensure_raw_table(db, load_contract(KY))
    good = [(g, c, 40, 30, 20, False) for g in ("5", "8", "12") for c in COMPETENCIES]
    _insert(db, 101, good)
    bad = list(good)
    bad[0] = ("7", "resiliency", 40, 30, 20, False)  # not an allowed grade
    bad[1] = ("5", "cultural_competency", -4, 30, 20, False)  # negative count
    bad[2] = ("5", "innovation", None, 30, 20, False)  # blank without a suppression marker
    bad[3] = ("5", "communication", None, 30, 20, True)  # suppressed: fine
    bad.append(("8", "innovation", 40, 30, 20, False))  # duplicate natural key
    _insert(db, 102, bad)
    yield
    db.execute("drop table if exists raw.ky_local_labs")


def test_landing_suite_is_generated_from_the_contract():
    contract = load_contract(KY)
    suite = build_landing_suite(contract)
    by_check = {}
    for e in suite.expectations:
        by_check.setdefault(e["meta"]["check"], []).append(e)
    assert {"required_value", "value_range", "allowed_values", "key_unique", "row_count"} <= by_check.keys()
    grade_set = [e for e in by_check["allowed_values"] if e["kwargs"]["column"] == "grade"]
    assert grade_set[0]["kwargs"]["value_set"] == ["5", "8", "12"]
    ranges = {e["kwargs"]["column"]: e["kwargs"] for e in by_check["value_range"]}
    assert ranges["students_eligible"]["min_value"] == 0 and ranges["students_eligible"]["max_value"] == 20000
    # suppressible required fields: a null is only a gap when no marker was sent
    required = [e for e in by_check["required_value"] if "students_eligible" in json.dumps(e)]
    assert '__suppressed" is not true' in required[0]["kwargs"]["unexpected_rows_query"]


def test_committed_landing_suites_match_their_contracts():
    contracts = load_contracts()
    for source, contract in contracts.items():
        path = landing_suite_path(source)
        assert path.exists(), f"{path} missing: run python -m innovation_pipeline.dq write-suites"
        committed = json.loads(path.read_text(encoding="utf-8"))
        generated = build_landing_suite(contract)
        from_contract = [
            e for e in committed["expectations"] if e.get("meta", {}).get("origin") == "contract"
        ]
        assert from_contract == generated.expectations, f"{path} is stale: rerun write-suites"
        assert hand_written(generated) == []


def test_dq_schema_is_idempotent(db):
    ensure_dq_schema(db)
    ensure_dq_schema(db)
    cols = {
        (t, c)
        for t, c in db.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'dq'"
        ).fetchall()
    }
    for c in (
        "run_id",
        "suite_name",
        "source",
        "submission_id",
        "run_at",
        "success",
        "evaluated",
        "successful",
        "unsuccessful",
    ):
        assert ("validation_runs", c) in cols
    for c in ("run_id", "expectation_type", "column_name", "success", "observed_value", "description"):
        assert ("expectation_results", c) in cols


def test_validate_landing_runs_gx_and_stores_results(db, ky_raw, tmp_path, monkeypatch):
    # GX's result store and Data Docs of this test alone: other modules validate KY files too.
    monkeypatch.setenv("PIPELINE_OUTPUT_DIR", str(tmp_path / "output"))
    contract = load_contract(KY)
    summary = validate_landing(contract, [101, 102])
    runs = {r["submission_id"]: r for r in summary["runs"]}
    assert runs[101]["success"] is True, runs[101]
    assert runs[102]["success"] is False

    failed = db.execute(
        """select e.check_id, e.column_name, e.unexpected_count, e.message
           from dq.expectation_results e join dq.validation_runs r using (run_id)
           where r.submission_id = 102 and not e.success order by e.check_id, e.column_name""",
    ).fetchall()
    by_key = {(c, col): (n, m) for c, col, n, m in failed}
    assert by_key[("allowed_values", "grade")][0] == 1
    assert "7" in by_key[("allowed_values", "grade")][1]
    assert by_key[("value_range", "students_eligible")][0] == 1
    # the unsuppressed blank fails; the suppressed one (value null, marker sent) passes
    assert by_key[("required_value", "students_eligible")][0] == 1
    assert "row 4" in by_key[("required_value", "students_eligible")][1]
    assert by_key[("key_unique", "grade + competency")][0] == 1
    assert "rows 9 and 17" in by_key[("key_unique", "grade + competency")][1]
    # every stored run matches its summary and the counts add up
    stored = db.execute(
        "select evaluated, successful, unsuccessful, success from dq.validation_runs where run_id = %s",
        (runs[102]["run_id"],),
    ).fetchone()
    assert (
        stored[0] == stored[1] + stored[2] and stored[2] == runs[102]["unsuccessful"] and stored[3] is False
    )
    n_results = db.execute(
        "select count(*) from dq.expectation_results where run_id = %s", (runs[102]["run_id"],)
    ).fetchone()[0]
    assert n_results == stored[0]
    # example rows point at file rows
    rows = db.execute(
        """select x.source_row from dq.example_rows x join dq.expectation_results e using (result_id)
           where e.run_id = %s and e.check_id = 'allowed_values'""",
        (runs[102]["run_id"],),
    ).fetchall()
    assert rows == [(2,)]
    # GX stored both results; the docs DAG's step renders them for engineers, once each.
    from innovation_pipeline.dq.runner import data_docs_dir, render_data_docs

    pages = data_docs_dir() / "validations" / "landing" / "ky_local_labs"
    assert render_data_docs() == data_docs_dir() / "index.html"
    assert len(list(pages.rglob("*.html"))) == 2
    assert render_data_docs() is None  # nothing new to render


def test_history_is_kept(db, ky_raw):
    contract = load_contract(KY)
    validate_landing(contract, [101])
    validate_landing(contract, [101])
    assert db.execute("select count(*) from dq.validation_runs where submission_id = 101").fetchone()[0] >= 2


def test_row_count_bounds_flag_a_short_file(db, ky_raw):
    from innovation_pipeline.dq.runner import Validator
    from innovation_pipeline.dq.suites import landing_suite

    contract = load_contract(KY)
    outcome = Validator().run(
        landing_suite(contract), {"_submission_id": 101}, {"min_rows": 30, "max_rows": 60}, contract
    )
    row_count = next(r for r in outcome.results if r.check_id == "row_count")
    assert row_count.success is False and row_count.observed_value == "15"
    assert "15 rows; between 30 and 60 were expected" in row_count.message


def test_missing_table_is_a_failed_run_not_a_crash(db):
    db.execute("drop table if exists raw.ky_local_labs")
    summary = validate_landing(load_contract(KY), [999])
    assert summary["success"] is False
    assert "could not run" in summary["runs"][0]["failed_checks"][0]


def test_masking_rules():
    assert is_sensitive("student_id_key") and is_sensitive("Student ID") and is_sensitive("stu_id")
    assert not is_sensitive("students_eligible") and not is_sensitive("district_id")
    assert mask_row({"student_id_key": "abc", "grade": "5"}) == {"student_id_key": MASK, "grade": "5"}
    assert neutralize_formula('=HYPERLINK("http://x","click")').startswith("'=")
    assert neutralize_formula("@SUM(A1)") == "'@SUM(A1)" and neutralize_formula("plain") == "plain"
    assert neutralize_formula(5) == 5
    # A plain negative number stays a number; a formula that starts like one does not.
    assert neutralize_formula("-5") == "-5" and neutralize_formula("-1,204.5") == "-1,204.5"
    assert neutralize_formula("-1+cmd|' /C calc'!A0").startswith("'-")
