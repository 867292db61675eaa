"""End to end on the sample generator's inbox: every file landed by the real loader, every landing
validated by GX, the marts built by the real dbt project and validated, and the report checked
against the generator's manifest of injected defects and rejected files.

The landed, validated and built inbox is the session's shared warehouse (``sample_warehouse``);
the tests that break a mart or store mart validations work on a copy of it.
"""

from __future__ import annotations

import csv
import html as htmllib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from sample_warehouse import SampleWarehouse

from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.dq import MartValidationError, build_report, validate_marts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse_url(sample_warehouse_url: str) -> str:
    """The session's shared sample warehouse: the whole inbox landed, validated and built."""
    return sample_warehouse_url


@pytest.fixture(scope="module")
def sample_run(sample_warehouse: SampleWarehouse, warehouse_url: str, tmp_path_factory) -> dict[str, Any]:
    """The report of the landed and validated sample inbox."""
    report = build_report(tmp_path_factory.mktemp("sample_report") / "report")
    return {
        "manifest": sample_warehouse.manifest,
        "report": report,
        "summaries": sample_warehouse.summaries,
        "folder": sample_warehouse.folder,
    }


def _submission(db, file_name: str, statuses: tuple[str, ...]) -> tuple[int, str, int | None] | None:
    return db.execute(
        "select submission_id, program, school_year from audit.submissions where file_name = %s"
        " and status = any(%s) order by submission_id desc limit 1",
        (file_name, list(statuses)),
    ).fetchone()


def _page(report: Path, program: str, year: int | None) -> str:
    name = f"{year}.html" if year is not None else "unknown-year.html"
    return (report.parent / program / name).read_text(encoding="utf-8")


def test_front_page_lists_every_program(sample_run):
    html = sample_run["report"].read_text(encoding="utf-8")
    programs = {c.program for c in load_contracts().values() if c.kind == "program"}
    assert programs
    for program in programs:
        row = re.search(rf'<tr data-program="{program}">(.*?)</tr>', html, re.S)
        assert row, f"{program} missing from the front page"
        assert f'href="{program}/' in row.group(1), f"{program} has no school-year pages"


def test_every_injected_defect_is_on_its_programs_page(db, sample_run):
    report = sample_run["report"]
    problems = []
    for defect in sample_run["manifest"]["defects"]:
        name = Path(defect["file"]).name
        found = _submission(db, name, ("loaded", "superseded"))
        if not found:
            problems.append(f"{name}: not landed")
            continue
        sid, program, year = found
        page = _page(report, program, year)
        section = re.search(rf'<section class="submission" id="submission-{sid}".*?</section>', page, re.S)
        if not section or f'data-reason="{defect["reason_code"]}"' not in section.group(0):
            problems.append(f"{name} row {defect['source_row']}: {defect['reason_code']} not shown")
            continue
        link = re.search(r'<a href="(downloads/[^"]+)" download>', section.group(0))
        if not link:
            problems.append(f"{name}: no download of the set-aside rows")
            continue
        with (report.parent / program / link.group(1)).open(encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        if not any(r["row in file"] == str(defect["source_row"]) and r["file"] == name for r in rows):
            problems.append(f"{name} row {defect['source_row']}: not in the download")
    assert not problems, "\n".join(problems)


def test_every_rejected_file_is_explained(db, sample_run):
    from innovation_pipeline.dq.catalog import catalog

    report = sample_run["report"]
    for entry in sample_run["manifest"]["files"]:
        if entry["expected_status"] != "rejected":
            continue
        name = Path(entry["path"]).name
        sid, program, year = _submission(db, name, ("rejected",))
        page = _page(report, program, year)
        section = re.search(rf'<section class="submission" id="submission-{sid}".*?</section>', page, re.S)
        assert section, f"{name} has no section on {program}/{year}"
        title = catalog()["rejections"][entry["reason_code"]]["title"].lower()
        assert title in htmllib.unescape(section.group(0)), f"{name}: '{title}' not shown"


def test_landing_runs_are_stored_for_every_loaded_submission(db, sample_run):
    for source, summary in sample_run["summaries"].items():
        for run in summary["runs"]:
            stored = db.execute(
                "select evaluated, successful + unsuccessful, (select count(*) from dq.expectation_results e"
                " where e.run_id = r.run_id) from dq.validation_runs r where run_id = %s",
                (run["run_id"],),
            ).fetchone()
            assert stored[0] == stored[1] == stored[2], (source, run)


def test_mart_suites_pass_on_the_built_marts_and_catch_a_broken_one(
    sample_warehouse_copy: SampleWarehouse, tmp_path: Path
) -> None:
    import psycopg

    built = sample_warehouse_copy.build
    assert built.returncode == 0, built.output[-6000:]
    summary = validate_marts()
    assert summary["success"] and len(summary["runs"]) >= 6
    # a published count below the threshold, and a state gone missing (in the copy only)
    with psycopg.connect(sample_warehouse_copy.url, autocommit=True) as db:
        db.execute(
            "update marts.cross_state_program_comparison set participating_count = 3"
            " where ctid = (select ctid from marts.cross_state_program_comparison"
            " where participating_count is not null limit 1)"
        )
        db.execute("delete from marts.cross_state_program_comparison where state = 'ND'")
    with pytest.raises(MartValidationError) as failed:
        validate_marts()
    checks = {json.dumps(r) for r in failed.value.summary["runs"] if not r["success"]}
    assert any("suppression threshold" in c for c in checks) and any("ND" in c for c in checks)
    html = build_report(tmp_path / "report").read_text(encoding="utf-8")
    assert "comparison tables failed their checks" in html
    assert "A small count is published" in html and "A state is missing from the comparison" in html


def test_no_raw_student_identifier_in_anything_analysts_or_officers_read(
    sample_warehouse_copy: SampleWarehouse, tmp_path: Path
) -> None:
    """Issue 7: scan every table in the schemas analysts and officers can read (marts, dq) and every
    file of the report and Data Docs for the sample data's raw student identifiers."""
    import psycopg

    from innovation_pipeline.settings import output_dir

    ids: set[str] = set()
    for path in (sample_warehouse_copy.folder / "inbox" / "nh_learn_everywhere").glob("*.json"):
        try:
            records = json.loads(path.read_text(encoding="utf-8")).get("records", [])
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        ids |= {str(r.get("student_id") or r.get("sasid")).strip() for r in records if isinstance(r, dict)}
    ids.discard("None")
    ids.discard("")
    assert len(ids) > 100
    db = psycopg.connect(sample_warehouse_copy.url, autocommit=True)
    # The landed rows do carry pseudonyms: the scan must see them to prove the raw ids are gone.
    assert db.execute("select count(student_id_key) from raw.nh_learn_everywhere").fetchone()[0] > 100
    built = sample_warehouse_copy.build
    assert built.returncode == 0, built.output[-6000:]
    # Every table analysts read is filled: the marts built, and their GX runs and results stored.
    validate_marts()
    report = tmp_path / "report"
    build_report(report)
    tables = db.execute(
        "select schemaname, tablename from pg_tables where schemaname in ('marts', 'dq') order by 1, 2"
    ).fetchall()
    assert len(tables) >= 8
    leaks = []
    for schema, table in tables:
        text = "\n".join(
            r[0]
            for r in db.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(schema, table)))
        )
        leaks += [(f"{schema}.{table}", i) for i in ids if i in text]
    db.close()
    folders = [report, output_dir() / "data_docs"]
    for folder in folders:
        for page in folder.rglob("*"):
            if page.is_file():
                text = page.read_text(encoding="utf-8", errors="replace")
                leaks += [(str(page), i) for i in ids if i in text]
    assert leaks == []
