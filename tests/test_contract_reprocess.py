"""Re-landing after a contract change: ``reprocess`` lands every archived file of a source again
as a new version (quarantined rows replayed), and re-sending an earlier version's bytes makes it
current again."""

from __future__ import annotations

import copy

from contract_helpers import write_contract

from innovation_pipeline.cli import main
from innovation_pipeline.landing import land_file
from innovation_pipeline.reprocess import reprocess_source

CONTRACT = {
    "source": "zz_reprocess",
    "title": "Reprocess",
    "state": "CO",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "a district's count",
    "submitter": "state",
    "due": {"month": 10, "day": 31},
    "file": {"pattern": r"^rep_(?P<school_year>\d{4}-\d{2})(_v\d+)?\.csv$", "format": "csv"},
    "district": {"scheme": "state_code", "column": "District Code", "width": 4},
    "suppression": {"markers": ["*"]},
    "fields": [{"name": "students", "source": "Students", "type": "integer", "suppressible": True}],
    "natural_key": ["district_id"],
}
ROWS = [("0010", "120"), ("0020", "."), ("0030", "45"), ("0040", ".")]


def write(folder, name: str, rows) -> object:
    path = folder / name
    path.write_text("District Code,Students\n" + "".join(f"{c},{v}\n" for c, v in rows), encoding="utf-8")
    return path


def statuses(db, year: int) -> list[tuple]:
    return db.execute(
        "select submission_id, status, superseded_by, rows_loaded, rows_quarantined from audit.submissions"
        " where source = 'zz_reprocess' and school_year = %s order by submission_id",
        (year,),
    ).fetchall()


def test_reprocess_replays_quarantined_rows_under_the_new_contract(db, tmp_path, capsys):
    before = write_contract(tmp_path, CONTRACT)
    first = land_file(before, write(tmp_path, "rep_2023-24.csv", ROWS))
    dots = sum(1 for _, v in ROWS if v == ".")
    assert (first.rows_loaded, first.rows_quarantined) == (len(ROWS) - dots, dots)

    # The state confirms "." means suppressed: the contract learns the marker, the file is replayed.
    data = copy.deepcopy(CONTRACT)
    data["suppression"]["markers"].append(".")
    after = write_contract(tmp_path, data)
    done = reprocess_source(after)
    assert [d.file_name for d in done] == ["rep_2023-24.csv"]
    again = done[0].result
    assert again is not None and again.submission_id != first.submission_id
    assert (again.rows_loaded, again.rows_quarantined) == (len(ROWS), 0)
    assert again.superseded == [first.submission_id]
    assert statuses(db, 2024) == [
        (first.submission_id, "superseded", again.submission_id, len(ROWS) - dots, dots),
        (again.submission_id, "loaded", None, len(ROWS), 0),
    ]
    suppressed = db.execute(
        "select count(*) from raw.zz_reprocess where _submission_id = %s and students__marker = '.'",
        (again.submission_id,),
    ).fetchone()[0]
    assert suppressed == dots
    # History is kept: the first version's rows are still there.
    kept = db.execute(
        "select count(*) from raw.zz_reprocess where _submission_id = %s", (first.submission_id,)
    ).fetchone()[0]
    assert kept == len(ROWS) - dots

    # The CLI does the same for a source (here: the current version again, nothing rejected).
    assert main(["reprocess", "zz_reprocess", "--contract", str(tmp_path / "zz_reprocess.yml")]) == 0
    assert "1 archived file(s) of zz_reprocess landed again" in capsys.readouterr().out


def test_resending_an_earlier_versions_bytes_makes_it_current_again(db, tmp_path):
    contract = write_contract(tmp_path, CONTRACT)
    rows = [("0010", "7"), ("0020", "8")]
    v1 = land_file(contract, write(tmp_path, "rep_2022-23.csv", rows))
    v2 = land_file(contract, write(tmp_path, "rep_2022-23_v2.csv", [("0010", "9"), ("0020", "8")]))
    assert v2.superseded == [v1.submission_id]
    # The correction was wrong: the district sends the first file's bytes again.
    back = land_file(contract, write(tmp_path, "rep_2022-23_v3.csv", rows))
    assert back.status == "loaded" and back.superseded == [v2.submission_id]
    current = db.execute(
        "select students from raw.zz_reprocess r join audit.submissions s on s.submission_id = r._submission_id"
        " where s.status = 'loaded' and s.school_year = 2023 and r.district_id = 'CO-0010'"
    ).fetchall()
    assert current == [(7,)]
    # While a version is current, the same bytes again are still a duplicate.
    dup = land_file(contract, write(tmp_path, "rep_2022-23_v4.csv", rows))
    assert dup.status == "duplicate"
