"""A corpus of bad inputs: each gives a clear error (or a clear quarantine) and loses nothing.

Every case asserts the file was archived unchanged, the outcome recorded in ``audit.submissions``
with a message naming the file, and ``received = loaded + quarantined`` where rows were read.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import psycopg
import pytest
import yaml

from innovation_pipeline.contracts import Contract, load_contract
from innovation_pipeline.landing import FileRejected, ensure_landing_schema, file_sha256, land_file

HEADER = "District Number,Grade,Competency,Students Defended,Note"
CONTRACT = {
    "source": "yy_bad",
    "title": "Bad input corpus",
    "state": "YY",
    "program": "yy_bad",
    "entity": "a district's defenses of one competency at one grade",
    "submitter": "district",
    "due": {"month": 7, "day": 15},
    "file": {
        "pattern": r"^YY_(?P<submitter>\d{3})_(?P<school_year>[^_]+?)(_.*)?\.(csv|xlsx)$",
        "format": "csv",
    },
    "district": {"scheme": "state_code", "column": "District Number", "width": 3, "role": "submitter"},
    "fields": [
        {"name": "grade", "source": "Grade", "type": "category", "allowed": ["5", "8", "12"]},
        {
            "name": "competency",
            "source": "Competency",
            "type": "category",
            "allowed": ["resiliency", "innovation"],
        },
        {"name": "students_defended", "source": "Students Defended", "type": "integer", "min": 0},
        {"name": "note", "source": "Note", "type": "text", "required": False},
    ],
    "natural_key": ["grade", "competency"],
}


def _contract(folder: Path, **changes) -> Contract:
    data = {**CONTRACT, **changes}
    path = folder / f"{data['source']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_contract(path)


@pytest.fixture(scope="module")
def contracts(warehouse_url: str, tmp_path_factory) -> dict[str, Contract]:
    folder = tmp_path_factory.mktemp("bad_contracts")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_landing_schema(conn)
        conn.execute(
            "insert into ref.districts (district_id, state, state_code, name) values ('YY-001', 'YY', '001', 'One')"
            " on conflict do nothing"
        )
    excel = _contract(
        folder, source="yy_bad_excel", file={**CONTRACT["file"], "format": "excel", "sheet": "Data"}
    )
    return {"csv": _contract(folder), "excel": excel}


def _outcome(db, path: Path) -> tuple:
    return db.execute(
        "select status, reason_code, message, rows_received, rows_loaded, rows_quarantined"
        " from audit.submissions where file_sha256 = %s order by submission_id desc limit 1",
        (file_sha256(path),),
    ).fetchone()


def _archived(db, path: Path) -> bytes:
    archive = db.execute(
        "select archive_path from audit.files where file_sha256 = %s", (file_sha256(path),)
    ).fetchone()[0]
    return Path(archive).read_bytes()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _xlsx_bytes(rows: list[list], sheet: str = "Data") -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


REJECTED = [
    ("YY_001_2010-11.csv", b"", "empty_file", "empty"),
    ("YY_001_2011-12.csv", (HEADER + "\r\n").encode(), "no_data_rows", "no data rows"),
    ("YY_001_2012-13.csv", bytes(range(256)) * 64, "unreadable", "binary"),
    (
        "YY_001_2013-14.csv",
        _xlsx_bytes([HEADER.split(","), ["001", 5, "innovation", 3, ""]]),
        "unreadable",
        "Excel",
    ),
    ("YY_001_1900-01.csv", (HEADER + "\r\n001,5,innovation,3,\r\n").encode(), "bad_file_name", "school year"),
    ("YY_001_2099-00.csv", (HEADER + "\r\n001,5,innovation,3,\r\n").encode(), "bad_file_name", "school year"),
]


@pytest.mark.parametrize(("name", "data", "code", "words"), REJECTED, ids=[r[0] for r in REJECTED])
def test_unreadable_files_are_rejected_whole(db, contracts, tmp_path, name, data, code, words):
    path = _write(tmp_path, name, data)
    with pytest.raises(FileRejected) as info:
        land_file(contracts["csv"], path)
    assert info.value.code == code and words in str(info.value) and name in str(info.value)
    status, reason, message, *_ = _outcome(db, path)
    assert (status, reason) == ("rejected", code) and name in message
    assert _archived(db, path) == data


def test_truncated_excel_and_zip_bomb(db, contracts, tmp_path):
    good = _xlsx_bytes([HEADER.split(","), ["001", 5, "innovation", 3, ""]])
    truncated = _write(tmp_path, "YY_001_2014-15.xlsx", good[: len(good) // 2])
    with pytest.raises(FileRejected) as info:
        land_file(contracts["excel"], truncated)
    assert info.value.code == "unreadable" and "YY_001_2014-15.xlsx" in str(info.value)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (600 * 1024 * 1024))
    bomb = _write(tmp_path, "YY_001_2015-16.xlsx", buf.getvalue())
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(FileRejected) as info:
        land_file(contracts["excel"], bomb)
    assert info.value.code == "too_large" and "refused" in str(info.value)
    assert _outcome(db, bomb)[0] == "rejected"


def test_excel_sheet_missing_names_the_sheets(db, contracts, tmp_path):
    path = _write(
        tmp_path, "YY_001_2016-17.xlsx", _xlsx_bytes([HEADER.split(",")], sheet="Robert'); DROP TABLE x;--")
    )
    with pytest.raises(FileRejected) as info:
        land_file(contracts["excel"], path)
    assert "no sheet 'Data'" in str(info.value) and "DROP TABLE" in str(info.value)


def test_nul_bytes_and_a_huge_cell_lose_nothing(db, contracts, tmp_path):
    rows = [
        HEADER,
        "001,5,innovation,1\x002,ok",
        "001,8,innovation,3," + "y" * 100_000,
        "001,12,innovation,4,fine",
    ]
    path = _write(tmp_path, "YY_001_2017-18.csv", "\r\n".join(rows).encode())
    result = land_file(contracts["csv"], path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    values = db.execute(
        "select _source_row, students_defended from raw.yy_bad where _submission_id = %s order by 1",
        (result.submission_id,),
    ).fetchall()
    assert values == [(2, 12), (4, 4)]
    reason, raw = db.execute(
        "select reason_code, raw_value from audit.quarantine where submission_id = %s",
        (result.submission_id,),
    ).fetchone()
    assert reason == "value_too_long" and len(raw) <= 500


def test_sql_in_column_names_and_values_is_just_data(db, contracts, tmp_path):
    header = HEADER + ',"x""); DROP TABLE audit.submissions; --"'
    rows = [
        header,
        '001,5,innovation,3,=HYPERLINK("http://evil"),1',
        "001,8,innovation,4,'; drop table raw.yy_bad;--,2",
    ]
    path = _write(tmp_path, "YY_001_2018-19.csv", "\r\n".join(rows).encode())
    result = land_file(contracts["csv"], path)
    assert result.rows_loaded == 2
    notes = [
        r[0]
        for r in db.execute(
            "select note from raw.yy_bad where _submission_id = %s order by _source_row",
            (result.submission_id,),
        )
    ]
    assert notes == ['=HYPERLINK("http://evil")', "'; drop table raw.yy_bad;--"]
    assert db.execute("select count(*) from audit.submissions").fetchone()[0] > 0


def test_a_path_in_the_file_name_does_not_escape_the_archive(db, contracts, tmp_path):
    from innovation_pipeline.settings import archive_dir

    path = _write(tmp_path, "YY_001_2019-20.csv", (HEADER + "\r\n001,5,innovation,3,\r\n").encode())
    result = land_file(contracts["csv"], path, original_name="..\\..\\windows/../../etc/YY_001_2019-20.csv")
    assert (result.status, result.file_name, result.rows_loaded) == ("loaded", "YY_001_2019-20.csv", 1)
    archive = db.execute(
        "select archive_path from audit.files where file_sha256 = %s", (file_sha256(path),)
    ).fetchone()[0]
    assert Path(archive).resolve().is_relative_to(archive_dir().resolve())


def test_school_years_of_1900_and_2099_in_rows_are_quarantined(db, contracts, tmp_path):
    contract = _contract(
        tmp_path,
        source="yy_years",
        submitter="state",
        file={"pattern": r"^YYY_(?P<submitter>[A-Z]{2})\.csv$", "format": "csv"},
        school_year={"source": "column", "column": "Year"},
        district={"scheme": "state_code", "column": "District Number", "width": 3},
        natural_key=["district_id"],
    )
    rows = [
        "District Number,Year,Grade,Competency,Students Defended",
        "001,2023-24,5,innovation,1",
        "001,1900,5,innovation,1",
        "001,2099-2100,5,innovation,1",
    ]
    path = _write(tmp_path, "YYY_YY.csv", "\r\n".join(rows).encode())
    result = land_file(contract, path)
    assert (result.rows_loaded, result.rows_quarantined, result.school_year) == (1, 2, 2024)
    reasons = [
        r[0]
        for r in db.execute(
            "select reason_code from audit.quarantine where submission_id = %s order by source_row",
            (result.submission_id,),
        )
    ]
    assert reasons == ["school_year_out_of_range", "school_year_out_of_range"]
