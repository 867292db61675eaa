"""The program-officer report, built from files landed by the real loader and validated by real GX.

Numbers on the pages are compared with the audit and dq tables they come from.
"""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from ky_report_files import land_report_submissions

from innovation_pipeline.contracts import load_contract
from innovation_pipeline.dq import build_report, validate_landing

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warehouse_url(isolated_warehouse_url: str) -> str:
    """These tests drop and count raw and dq tables: they get a database of their own."""
    return isolated_warehouse_url


@pytest.fixture(scope="module")
def landed(warehouse_url, tmp_path_factory):
    """KY files: a clean year, a defective late year, a rejected file and a duplicate."""
    return land_report_submissions(tmp_path_factory.mktemp("ky"))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def section_of(html: str, submission_id: int) -> str:
    """The 'what needs fixing' section of one submission on a school year's page."""
    found = re.search(
        rf'<section class="submission" id="submission-{submission_id}".*?</section>', html, re.S
    )
    assert found, f"submission {submission_id} has no section"
    return found.group(0)


def download_of(page: Path, submission_id: int) -> Path:
    """The CSV the submission's section links to."""
    link = re.search(
        r'<a href="(downloads/[^"]+)" download>', section_of(page.read_text("utf-8"), submission_id)
    )
    assert link, f"submission {submission_id} links no download"
    return page.parent / link.group(1)


def test_defective_submission_fails_row_count_against_last_year(db, landed):
    row = db.execute(
        """select e.success, e.observed_value, e.message from dq.expectation_results e
           join dq.validation_runs r using (run_id)
           where r.submission_id = %s and e.check_id = 'row_count'""",
        (landed["defective"],),
    ).fetchone()
    # 6 rows loaded this year against 15 last year: the band is 7..30
    assert row[0] is False and row[1] == "6"
    assert "between 7 and 30 were expected" in row[2]


def test_report_pages_show_submissions_checks_and_quarantine(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    assert index.name == "index.html" and index.exists()
    front = text_of(index)
    assert "Kentucky Local Laboratories of Learning" in front
    page = index.parent / "ky_local_labs" / "2025.html"
    text = text_of(page)
    assert "Allen County (KY-005)" in text
    assert "late" in text
    assert "Far more or far fewer rows than last year" in text
    assert "This submission has 6 rows; between 7 and 30 were expected" in text
    # quarantine reasons in plain words, and the rejected file with its reason
    assert "A value is not one of the allowed choices" in text
    assert "Text where a number belongs" in text
    assert "The same row appears more than once" in text
    assert "The file was not accepted" in text and "KY_LLL_008_2024-25.csv" in text
    # the formula travels as inert text on the page, and the CSV neutralizes it
    html = page.read_text(encoding="utf-8")
    assert '<a href="http://evil' not in html
    download = download_of(page, landed["defective"])
    assert download.exists(), "no CSV download for the quarantined rows"
    with download.open(encoding="utf-8-sig") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert any(c.startswith("'=HYPERLINK(") for c in cells)


def test_report_numbers_match_the_audit_and_dq_tables(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    html = (index.parent / "ky_local_labs" / "2025.html").read_text(encoding="utf-8")
    for sid, received, loaded, quarantined in db.execute(
        "select submission_id, rows_received, rows_loaded, rows_quarantined from audit.submissions"
        " where source = 'ky_local_labs' and school_year = 2025 and status <> 'duplicate'"
    ).fetchall():
        row = re.search(rf'<tr data-submission="{sid}">(.*?)</tr>', html, re.S)
        assert row, f"submission {sid} is not on the page"
        nums = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        failed = db.execute(
            "select unsuccessful from dq.validation_runs where submission_id = %s order by run_id desc limit 1",
            (sid,),
        ).fetchone()
        assert nums[:3] == [str(received), str(loaded), str(quarantined)]
        if failed:
            assert nums[3] == str(failed[0])
    # front page totals equal the table's
    totals = db.execute(
        "select count(*) filter (where is_late), count(*) filter (where status = 'rejected'),"
        " sum(rows_quarantined) filter (where status <> 'duplicate')"
        " from audit.submissions where program = 'ky_local_labs'"
    ).fetchone()
    front = index.read_text(encoding="utf-8")
    row = re.search(r'<tr data-program="ky_local_labs">(.*?)</tr>', front, re.S).group(1)
    nums = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert nums[3] == str(totals[0]) and nums[4] == str(totals[1]) and nums[6] == str(totals[2])


def test_report_never_shows_student_identifiers(db, landed, session_tmp, tmp_path):
    """A provider's file with student ids (one record quarantined, one district unknown) is
    landed and validated: no page shows an id as sent, nor its pseudonym."""
    import json

    from innovation_pipeline.landing import land_file

    nh = load_contract(ROOT / "programs" / "nh_learn_everywhere.yml")
    with (ROOT / "programs" / "reference" / "districts.csv").open(encoding="utf-8", newline="") as fh:
        district = next(r["name"] for r in csv.DictReader(fh) if r["state"] == "NH")
    ids = [f"S99{n:05d}" for n in range(1, 6)]
    records = [
        {
            "student_id": sid,
            "provider_name": "Acme",
            "program": "Robotics",
            "subject_area": "science",
            "credits": credits,
            "date_awarded": "2024-05-01",
            "resident_district": place,
        }
        for sid, credits, place in zip(
            ids, [1, 2, 9, 1, 0.5], [district, district, district, "Nowhere Town", district], strict=True
        )
    ]
    # An identifier too long to be one is quarantined: its message and value must not show it.
    long_id = "S98" + "7" * 4100
    records.append({**records[0], "student_id": long_id, "program": "Long"})
    path = tmp_path / "NH_LE_acme_2023-24.json"
    path.write_text(json.dumps({"provider": "Acme", "records": records}), encoding="utf-8")
    result = land_file(nh, path)
    assert result.rows_loaded == 3 and result.rows_quarantined == 3
    # A landed row that fails a check (changed in place, as a broken upstream step could): the
    # report then shows example rows of the submission, whose pseudonyms must be masked.
    db.execute(
        "update raw.nh_learn_everywhere set credits_awarded = 99 where _submission_id = %s",
        (result.submission_id,),
    )
    summary = validate_landing(nh, [result.submission_id])
    assert (
        db.execute(
            "select count(*) from dq.example_rows e join dq.validation_runs r using (run_id) where r.submission_id = %s",
            (result.submission_id,),
        ).fetchone()[0]
        > 0
    ), summary
    keys = [
        r[0]
        for r in db.execute(
            "select student_id_key from raw.nh_learn_everywhere where student_id_key is not null"
        )
    ]
    assert len(keys) == 3
    index = build_report(session_tmp / "report")
    pages = [p for p in index.parent.rglob("*") if p.is_file()]
    assert any(
        "nh_learn_everywhere" in p.as_posix()
        or "NH_LE_acme" in p.read_text(encoding="utf-8", errors="replace")
        for p in pages
    )
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        # The column's name may appear (a check on it); its values, and the ids as sent, never.
        for secret in [*ids, *keys, long_id[:40]]:
            assert secret not in text, (page.name, secret)


def test_report_says_when_marts_failed(db, landed, session_tmp, monkeypatch):
    from innovation_pipeline.dq import MartValidationError, validate_marts
    from innovation_pipeline.dq import validate as validate_module
    from innovation_pipeline.dq.suites import SuiteSpec

    db.execute("create schema if not exists test_marts")
    db.execute("drop table if exists test_marts.comparison")
    db.execute("create table test_marts.comparison (state text, program text, participation_rate numeric)")
    db.execute("insert into test_marts.comparison values ('KY', 'ky_local_labs', 1.4)")
    spec = SuiteSpec(
        "marts.test_comparison",
        {"kind": "mart", "schema": "test_marts", "table": "comparison"},
        [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "participation_rate", "min_value": 0, "max_value": 1},
                "meta": {"check": "rate_range"},
                "description": "Rates are fractions.",
            },
        ],
    )
    # The suite list is swapped (the dbt marts are not part of this test); GX and PostgreSQL are real.
    monkeypatch.setattr(validate_module, "mart_suites", lambda: [spec])
    with pytest.raises(MartValidationError) as failed:
        validate_marts()
    assert "marts.test_comparison" in str(failed.value)
    stored = db.execute(
        "select success from dq.validation_runs where suite_name = 'marts.test_comparison' order by run_id desc"
    ).fetchone()
    assert stored == (False,)
    index = build_report(session_tmp / "report")
    front = text_of(index)
    assert "comparison tables failed their checks" in front
    assert "A rate is outside 0 to 100 percent" in front
    page = text_of(index.parent / "ky_local_labs" / "2025.html")
    assert "comparison tables failed their checks" in page
    # fixed data passes and the banner goes away
    db.execute("update test_marts.comparison set participation_rate = 0.4")
    assert validate_marts()["success"] is True
    assert "comparison tables failed" not in text_of(build_report(session_tmp / "report"))


def test_download_is_named_by_district_and_file_and_its_rows_say_both(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    download = download_of(index.parent / "ky_local_labs" / "2025.html", landed["defective"])
    # the officer's downloads folder tells the files apart by district and file
    assert "Allen-County" in download.name and "KY_LLL_005_2024-25" in download.name
    with download.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    quarantined = db.execute(
        "select count(*) from audit.quarantine where submission_id = %s", (landed["defective"],)
    ).fetchone()[0]
    assert len(rows) == quarantined > 0
    assert {r["submitted by"] for r in rows} == {"Allen County (KY-005)"}
    assert {r["file"] for r in rows} == {"KY_LLL_005_2024-25.csv"}


def test_how_to_fix_names_the_file_to_send(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    html = (index.parent / "ky_local_labs" / "2025.html").read_text(encoding="utf-8")
    rejected = db.execute(
        "select submission_id from audit.submissions where file_name = 'KY_LLL_008_2024-25.csv'"
    ).fetchone()[0]
    for sid, name in ((rejected, "KY_LLL_008_2024-25.csv"), (landed["defective"], "KY_LLL_005_2024-25.csv")):
        fix = text_of_html(section_of(html, sid))
        assert re.search(
            rf"How to fix:[^:]*?(Send the corrected file as|send the whole file again as) {name}", fix
        ), fix


def test_a_superseded_file_is_not_asked_to_be_sent_again(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    html = (index.parent / "ky_local_labs" / "2025.html").read_text(encoding="utf-8")
    old = text_of_html(section_of(html, landed["superseded"]))
    assert "Nothing to send again" in old
    assert "How to fix" not in old and "send the whole file again" not in old
    # the action list across programs asks for the defective and the rejected file, not the replaced one
    actions = re.search(r'<table id="action-list">.*?</table>', index.read_text("utf-8"), re.S)
    assert actions, "the front page has no action list"
    listed = {int(i) for i in re.findall(r'<tr data-submission="(\d+)">', actions.group(0))}
    rejected = db.execute(
        "select submission_id from audit.submissions where file_name = 'KY_LLL_008_2024-25.csv'"
    ).fetchone()[0]
    assert {landed["defective"], rejected} <= listed
    assert not listed & {landed["superseded"], landed["corrected"], landed["clean"]}
    duplicates = {
        r[0] for r in db.execute("select submission_id from audit.submissions where status = 'duplicate'")
    }
    assert duplicates and not listed & duplicates


def test_action_list_rows_say_who_fixes_what_and_link_to_it(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    front = index.read_text("utf-8")
    row = re.search(rf'<tr data-submission="{landed["defective"]}">(.*?)</tr>', front, re.S).group(1)
    text = text_of_html(row)
    assert "Allen County (KY-005)" in text and "2024-25" in text and "Kentucky" in text
    assert "Far more or far fewer rows than last year" in text and "rows set aside" in text
    href = re.search(r'href="([^"]+)"', row).group(1)
    target, fragment = href.split("#")
    assert f'id="{fragment}"' in (index.parent / target).read_text("utf-8")


def test_status_grid_is_a_table_whose_cells_link_to_the_submission(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    for page, prefix in (
        (index, index.parent),
        (index.parent / "ky_local_labs" / "2025.html", index.parent / "ky_local_labs"),
    ):
        html = page.read_text("utf-8")
        grid = re.search(r'<table class="status-grid" data-program="ky_local_labs">.*?</table>', html, re.S)
        assert grid, f"{page.name}: no status table for KY"
        table = grid.group(0)
        assert "<caption>" in table
        assert re.findall(r'<th scope="col"[^>]*>(\d{4}-\d{2})</th>', table) == ["2023-24", "2024-25"]
        submitters = re.findall(r'<th scope="row">([^<]+)</th>', table)
        assert "Allen County (KY-005)" in submitters and "Barbourville Independent (KY-016)" in submitters
        links = re.findall(r'<a href="([^"]+)"', table)
        assert links
        for href in links:
            target, fragment = href.split("#")
            assert f'id="{fragment}"' in (prefix / target).read_text("utf-8"), href
    # Allen County's 2024-25 cell says, in words, that it needs fixing, and links to its section
    grid = re.search(
        r'<table class="status-grid" data-program="ky_local_labs">.*?</table>', index.read_text("utf-8"), re.S
    )
    cell = re.search(
        rf'<a href="ky_local_labs/2025.html#submission-{landed["defective"]}"[^>]*>(.*?)</a>', grid.group(0)
    )
    assert cell and "Loaded, with problems to fix" in cell.group(1)


def test_wording_is_plain_english(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    texts = [text_of(p) for p in index.parent.rglob("*.html")]
    for text in texts:
        assert "agencys" not in text and not re.search(r"\(1 problems\)|\b1 rows\b", text)
    page = text_of(index.parent / "ky_local_labs" / "2025.html")
    assert "Districts that sent a file" in page


def test_checks_page_lists_every_check_offline(db, landed, session_tmp):
    index = build_report(session_tmp / "report")
    assert 'href="checks.html"' in index.read_text("utf-8")
    html = (index.parent / "checks.html").read_text("utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page loads something from the internet"
    stored = db.execute(
        "select count(*) from dq.expectation_results e join dq.validation_runs r using (run_id)"
        " where r.submission_id = %s",
        (landed["defective"],),
    ).fetchone()[0]
    run = re.search(
        r'<section class="submission validation-run" id="run-\d+" data-suite="landing.ky_local_labs">'
        r"(?:(?!</section>).)*KY_LLL_005_2024-25.csv.*?</section>",
        html,
        re.S,
    )
    assert run, "the defective submission's validation is not on the page"
    assert run.group(0).count("<tr data-check=") == stored > 0
    assert 'data-check="row_count" data-success="false"' in run.group(0)


def text_of_html(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def test_report_pages_cap_huge_messages_and_values(db, landed, session_tmp):
    """A quarantine row or rejection holding a whole 10 MB cell (recorded before messages were
    capped at landing) is quoted in part on the report pages."""
    huge = "Z" * 10_000_000
    sub = landed["defective"]
    db.execute(
        "insert into audit.quarantine (submission_id, source, source_row, column_name, field_name, reason_code,"
        " message, raw_value) values (%s, 'ky_local_labs', 99, 'Grade', 'grade', 'not_allowed_value', %s, %s)",
        (sub, f"Row 99, column 'Grade': {huge!r} is not one of the allowed values.", huge),
    )
    try:
        index = build_report(session_tmp / "report_capped")
        sizes = {p.name: p.stat().st_size for p in index.parent.rglob("*.html")}
        assert max(sizes.values()) < 2_000_000, sizes
        assert any("Z" * 150 in p.read_text(encoding="utf-8") for p in index.parent.rglob("*.html"))
    finally:
        db.execute("delete from audit.quarantine where submission_id = %s and source_row = 99", (sub,))
