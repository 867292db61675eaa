"""Landing against a real PostgreSQL: the real Colorado file, contract features, quarantine,
rejections, duplicates, resubmissions, atomicity and concurrency."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import openpyxl
import psycopg
import pytest
import yaml

from innovation_pipeline.contracts import Contract, ContractError, load_contract
from innovation_pipeline.landing import FileRejected, ensure_landing_schema, land_file

ROOT = Path(__file__).resolve().parents[1]

# A small state ("ZZ") of our own, so these tests don't depend on the sample directory.
ZZ_DISTRICTS = [
    ("ZZ-001", "001", "9900001", "Cañon City RE-1"),
    ("ZZ-002", "002", "9900002", "Adams County 14"),
    ("ZZ-003", "003", "9900003", "Mapleton 1"),
]

CONTRACT = {
    "source": "zz_skills",
    "title": "ZZ success skills",
    "state": "ZZ",
    "program": "zz_skills",
    "entity": "a district's defenses of one competency at one grade",
    "submitter": "district",
    "due": {"month": 7, "day": 15},
    "file": {"pattern": r"^ZZ_(?P<submitter>\d{3})_(?P<school_year>[^_.]+)(_v\d+)?\.csv$", "format": "csv"},
    "rows": {"stop_at": [{"equals": "End of Worksheet"}], "skip": [{"matches": "^Note"}]},
    "district": {
        "scheme": "state_code",
        "column": ["District Number", "Dist No"],
        "width": 3,
        "role": "submitter",
    },
    "fields": [
        {"name": "grade", "source": "Grade", "type": "category", "allowed": ["5", "8", "12"]},
        {
            "name": "competency",
            "source": ["Competency", "Success Skill"],
            "type": "category",
            "allowed": ["resiliency", "innovation"],
        },
        {
            "name": "students_defended",
            "source": "Students Defended",
            "type": "integer",
            "min": 0,
            "max": 5000,
            "suppressible": True,
        },
        {
            "name": "defense_rate",
            "source": "Defense Rate",
            "type": "rate",
            "suppressible": True,
            "required": False,
        },
        {"name": "school_name", "source": "School", "type": "text", "required": False},
    ],
    "natural_key": ["grade", "competency"],
}


def write_contract(folder: Path, data: dict) -> Contract:
    path = folder / f"{data['source']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_contract(path)


@pytest.fixture(scope="module")
def zz(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Contract:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_landing_schema(conn)
        for district_id, code, nces, name in ZZ_DISTRICTS:
            conn.execute(
                "insert into ref.districts (district_id, state, state_code, nces_lea_id, name)"
                " values (%s, 'ZZ', %s, %s, %s) on conflict do nothing",
                (district_id, code, nces, name),
            )
    return write_contract(tmp_path_factory.mktemp("contracts"), CONTRACT)


def csv_file(folder: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def submission(db, sub_id: int) -> dict:
    cur = db.execute("select * from audit.submissions where submission_id = %s", (sub_id,))
    names = [d.name for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def quarantine(db, sub_id: int) -> list[tuple]:
    return db.execute(
        "select source_row, field_name, reason_code, message from audit.quarantine"
        " where submission_id = %s order by source_row, field_name",
        (sub_id,),
    ).fetchall()


# --- the real Colorado file -------------------------------------------------------------------


def test_real_colorado_chronic_absenteeism(db, real_co_file):
    contract = load_contract(ROOT / "programs" / "co_chronic_absenteeism.yml")
    result = land_file(contract, real_co_file)
    assert result.status == "loaded"
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (186, 186, 0)
    rows = db.execute(
        "select row_kind, count(*), sum(chronic_absent_count), count(district_id), min(school_year)"
        " from raw.co_chronic_absenteeism where _submission_id = %s group by row_kind order by row_kind",
        (result.submission_id,),
    ).fetchall()
    assert rows == [("district", 185, 277_671, 185, 2023), ("state_total", 1, 269_582, 0, 2023)]
    canon = db.execute(
        "select district_id, chronic_absenteeism_rate from raw.co_chronic_absenteeism"
        " where district_source_value = '1140' and _submission_id = %s",
        (result.submission_id,),
    ).fetchone()
    assert canon[0] == "CO-1140" and float(canon[1]) == pytest.approx(0.246)
    sub = submission(db, result.submission_id)
    assert (sub["submitter"], sub["school_year"], sub["status"]) == ("CO", 2023, "loaded")
    assert sub["rows_received"] == sub["rows_loaded"] + sub["rows_quarantined"]


# --- contract features --------------------------------------------------------------------------


def test_title_rows_aliases_markers_footnotes_and_end_marker(db, zz, tmp_path):
    path = csv_file(
        tmp_path,
        "ZZ_001_2023-24.csv",
        [
            "Backpack of Success Skills,,,,",
            "Submitted by Cañon City RE-1,,,,",
            "",
            "Dist No,Grade,Success Skill,Students Defended,Defense Rate,School",
            "1,5,Resiliency,120,85%,North",
            "001,5,Innovation,<10,--,North",
            ",,,,,",
            '001,8,resiliency,"1,204",0.9,East',
            "Note: counts under 10 are suppressed,,,,,",
            "End of Worksheet,,,,,",
            "001,12,resiliency,99,,ignored after the end marker",
        ],
    )
    result = land_file(zz, path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        3,
        3,
        0,
        3,
    )
    assert (result.submitter, result.school_year) == ("ZZ-001", 2024)
    rows = db.execute(
        "select _source_row, grade, competency, students_defended, students_defended__suppressed,"
        " students_defended__marker, students_defended__upper, defense_rate"
        " from raw.zz_skills where _submission_id = %s order by _source_row",
        (result.submission_id,),
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        (5, "5", "resiliency", 120, False, None),
        (6, "5", "innovation", None, True, "<10"),
        (8, "8", "resiliency", 1204, False, None),
    ]
    assert float(rows[1][6]) == 9 and float(rows[0][7]) == pytest.approx(0.85) and rows[1][7] is None


def test_every_bad_row_quarantined_with_reason_and_nothing_lost(db, zz, tmp_path):
    path = csv_file(
        tmp_path,
        "ZZ_002_2023-24.csv",
        [
            "District Number,Grade,Competency,Students Defended,Defense Rate,School",
            "002,5,resiliency,40,0.5,A",  # row 2: good
            "002,6,resiliency,40,0.5,B",  # row 3: grade not allowed
            "002,8,resiliency,4O,0.5,C",  # row 4: not a number
            "002,8,innovation,12.5,0.5,D",  # row 5: not whole
            "002,12,resiliency,-1,150%,E",  # row 6: two problems, one row
            "002,12,innovation,,0.5,F",  # row 7: missing required
            "003,5,innovation,10,0.5,G",  # row 8: another district's row
            "002,5,resiliency,41,0.5,H",  # row 9: duplicate key of row 2
            "777,8,innovation,10,0.5,I",  # row 10: unknown district
            "002,8,resiliency,10,0.5," + "x" * 5000,  # row 11: value too long
        ],
    )
    result = land_file(zz, path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (10, 1, 9)
    got = [(r[0], r[1], r[2]) for r in quarantine(db, result.submission_id)]
    assert got == [
        (3, "grade", "not_allowed_value"),
        (4, "students_defended", "not_a_number"),
        (5, "students_defended", "not_whole_number"),
        (6, "defense_rate", "out_of_range"),
        (6, "students_defended", "out_of_range"),
        (7, "students_defended", "missing_value"),
        (8, "district_id", "district_mismatch"),
        (9, "grade,competency", "duplicate_key"),
        (10, "district_id", "unknown_district"),
        (11, "school_name", "value_too_long"),
    ]
    messages = {r[0]: r[3] for r in quarantine(db, result.submission_id)}
    assert messages[4] == "Row 4, column 'Students Defended': '4O' is not a number."
    assert "allowed: 5, 8, 12" in messages[3]
    assert "row 2 already has the same grade and competency" in messages[9]
    sub = submission(db, result.submission_id)
    assert sub["rows_received"] == sub["rows_loaded"] + sub["rows_quarantined"] == 10


def test_unknown_district_name_gets_closest_suggestions(db, zz, tmp_path):
    data = dict(
        CONTRACT,
        source="zz_names",
        file={"pattern": r"^ZZN_(?P<school_year>.+)\.json$", "format": "json", "records_path": "records"},
        submitter="state",
        district={"scheme": "name", "column": "District"},
        natural_key=["district_id"],
        fields=[{"name": "students_defended", "source": "Defended", "type": "integer", "min": 0}],
    )
    data.pop("rows")
    contract = write_contract(tmp_path, data)
    path = tmp_path / "ZZN_SY2024.json"
    path.write_text(
        json.dumps(
            {
                "records": [
                    {"District": "CANON CITY RE-1 ", "Defended": 12},
                    {"District": "adams county #14", "Defended": 13},
                    {"District": "Maple Ton One", "Defended": 3},
                ]
            }
        ),
        encoding="utf-8",
    )
    result = land_file(contract, path)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    problems = quarantine(db, result.submission_id)
    assert problems[0][0] == 3 and problems[0][2] == "unknown_district"
    assert "closest known: Mapleton 1 (ZZ-003)" in problems[0][3]


def test_windows_1252_and_bom_encodings(db, zz, tmp_path):
    lines = ["Dist No,Grade,Competency,Students Defended,School", "003,5,resiliency,12,Cañon Élémentaire"]
    for name, encoding in (("ZZ_003_2021-22.csv", "cp1252"), ("ZZ_003_2022-23.csv", "utf-8-sig")):
        result = land_file(zz, csv_file(tmp_path, name, lines, encoding))
        assert result.rows_loaded == 1, name
        school = db.execute(
            "select school_name from raw.zz_skills where _submission_id = %s", (result.submission_id,)
        ).fetchone()[0]
        assert school == "Cañon Élémentaire"


def test_excel_with_title_rows(db, zz, tmp_path):
    data = dict(
        CONTRACT,
        source="zz_excel",
        file={
            "pattern": r"^ZZX_(?P<submitter>\d{3})_(?P<school_year>.+)\.xlsx$",
            "format": "excel",
            "sheet": "Skills",
        },
    )
    contract = write_contract(tmp_path, data)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Skills"
    ws.append(["ZZ Department of Education"])
    ws.append([])
    ws.append(["District Number", "Grade", "Competency", "Students Defended", "Defense Rate"])
    ws.append(["001", 5, "Resiliency", 10, 0.5])
    ws.append([1, 8, "Innovation", "*", 0.25])
    path = tmp_path / "ZZX_001_2023-2024.xlsx"
    wb.save(path)
    result = land_file(contract, path)
    assert (result.rows_received, result.rows_loaded) == (2, 2)
    rows = db.execute(
        "select _sheet, _source_row, students_defended__marker from raw.zz_excel where _submission_id = %s"
        " order by 2",
        (result.submission_id,),
    ).fetchall()
    assert rows == [("Skills", 4, None), ("Skills", 5, "*")]


# --- rejected files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "code", "words"),
    [
        ("ZZ_001_2019-20.csv", b"", "empty_file", "empty"),
        (
            "ZZ_001_2018-19.csv",
            b"Dist No,Grade,Competency,Students Defended\r\n",
            "no_data_rows",
            "no data rows",
        ),
        (
            "ZZ_001_2017-18.csv",
            b"Dist No,Grade,Students Defended\r\n001,5,3\r\n",
            "missing_columns",
            "'Competency'",
        ),
        ("ZZ_001_2016-17.csv", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200, "unreadable", "Excel"),
        ("ZZ_001_2015-16.csv", bytes(range(256)) * 40, "unreadable", "binary"),
        (
            "ZZ_001_2098-99.csv",
            b"Dist No,Grade,Competency,Students Defended\r\n001,5,innovation,3\r\n",
            "bad_file_name",
            "school year",
        ),
        (
            "district one.csv",
            b"Dist No,Grade,Competency,Students Defended\r\n001,5,innovation,3\r\n",
            "bad_file_name",
            "does not match",
        ),
    ],
)
def test_unreadable_files_rejected_whole_with_clear_message(db, zz, tmp_path, name, content, code, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileRejected) as info:
        land_file(zz, path)
    assert info.value.code == code
    assert name in str(info.value) and words in str(info.value)
    row = db.execute(
        "select status, reason_code, message, rows_loaded from audit.submissions where file_name = %s",
        (name,),
    ).fetchone()
    assert row[:2] == ("rejected", code) and name in row[2] and row[3] == 0
    # Archived unchanged even though it was rejected.
    archived = db.execute(
        "select f.archive_path from audit.files f join audit.submissions s using (file_sha256) where s.file_name = %s",
        (name,),
    ).fetchone()[0]
    assert Path(archived).read_bytes() == content


def test_a_bad_file_does_not_stop_the_others(db, zz, tmp_path):
    good = csv_file(
        tmp_path, "ZZ_002_2019-20.csv", ["Dist No,Grade,Competency,Students Defended", "002,5,innovation,3"]
    )
    bad = csv_file(tmp_path, "ZZ_002_2018-19.csv", ["nothing useful here"])
    outcomes = []
    for path in (bad, good):
        try:
            outcomes.append(land_file(zz, path).status)
        except FileRejected:
            outcomes.append("rejected")
    assert outcomes == ["rejected", "loaded"]


def test_a_batch_task_lands_every_file_past_a_rejected_one(db, zz, tmp_path, monkeypatch):
    """The ingest DAG lands files in batches: a rejected file is an outcome, the next file lands."""
    from innovation_pipeline.orchestration import landing_tasks

    # The DAG reads the contract from programs/; this test's contract lives in a temp folder.
    monkeypatch.setattr(landing_tasks, "source_contract", lambda source: zz)
    header = "Dist No,Grade,Competency,Students Defended"
    paths = [
        csv_file(tmp_path, "ZZ_001_2016-17.csv", [header, "001,5,innovation,3"]),
        csv_file(tmp_path, "ZZ_002_2016-17.csv", ["nothing useful here"]),
        csv_file(tmp_path, "ZZ_003_2016-17.csv", [header, "003,6,innovation,4"]),
    ]
    files = [{"name": p.name, "uri": str(p), "sha256": p.name, "modified": None} for p in paths]
    rejected = []
    outcomes = landing_tasks.land_batch(zz.source, files, files, on_rejected=rejected.append)
    assert [o["status"] for o in outcomes] == ["loaded", "rejected", "loaded"]
    assert [o["file"] for o in rejected] == ["ZZ_002_2016-17.csv"]
    assert "ZZ_002_2016-17.csv was rejected" in rejected[0]["message"]
    assert landing_tasks.rejected_outcomes([outcomes, None]) == rejected
    for o in (outcomes[0], outcomes[2]):
        assert submission(db, o["submission_id"])["status"] == "loaded"
    assert [len(b) for b in landing_tasks.batches(files, 2)] == [2, 1]
    assert landing_tasks.batch_label(files) == "ZZ_001_2016-17.csv … ZZ_003_2016-17.csv (3 files)"


# --- duplicates, resubmissions, reruns -----------------------------------------------------------


def test_same_bytes_twice_loaded_once_and_resubmission_supersedes(db, zz, tmp_path):
    lines = ["Dist No,Grade,Competency,Students Defended", "003,5,innovation,30", "003,8,innovation,31"]
    first = land_file(zz, csv_file(tmp_path, "ZZ_003_2024-25.csv", lines))
    rerun = land_file(zz, tmp_path / "ZZ_003_2024-25.csv")
    assert rerun.submission_id == first.submission_id  # a retry of the same delivery is a no-op
    copy = csv_file(tmp_path, "ZZ_003_2024-25_v1.csv", lines)
    dup = land_file(zz, copy)
    assert dup.status == "duplicate" and dup.rows_loaded == 0
    corrected = land_file(
        zz, csv_file(tmp_path, "ZZ_003_2024-25_v2.csv", [*lines[:2], "003,8,innovation,41"])
    )
    assert corrected.status == "loaded" and corrected.superseded == [first.submission_id]
    statuses = db.execute(
        "select file_name, status, superseded_by, duplicate_of from audit.submissions"
        " where source = 'zz_skills' and submitter = 'ZZ-003' and school_year = 2025 order by submission_id"
    ).fetchall()
    assert statuses == [
        ("ZZ_003_2024-25.csv", "superseded", corrected.submission_id, None),
        ("ZZ_003_2024-25_v1.csv", "duplicate", None, first.submission_id),
        ("ZZ_003_2024-25_v2.csv", "loaded", None, None),
    ]
    # History stays queryable: both submissions' rows are kept, and exactly once each.
    counts = db.execute(
        "select _submission_id, count(*) from raw.zz_skills where _submission_id in (%s, %s) group by 1 order by 1",
        (first.submission_id, corrected.submission_id),
    ).fetchall()
    assert counts == [(first.submission_id, 2), (corrected.submission_id, 2)]


def test_student_identifiers_are_pseudonymized_and_masked(db, zz, tmp_path):
    data = dict(
        CONTRACT,
        source="zz_students",
        submitter="provider",
        file={"pattern": r"^ZZS_(?P<submitter>[a-z]+)_(?P<school_year>.+)\.csv$", "format": "csv"},
        district={"scheme": "name", "column": "Resident District", "role": "resident"},
        fields=[
            {"name": "student_id", "source": "SASID", "type": "student_id"},
            {"name": "credits", "source": "Credits", "type": "number", "min": 0, "max": 4},
        ],
        natural_key=["student_id"],
    )
    contract = write_contract(tmp_path, data)
    lines = [
        "SASID,Resident District,Credits",
        "S1000001,Mapleton 1,1",
        "S1000002,Mapleton 1,9",
        "S1000001,Mapleton 1,2",
    ]
    r1 = land_file(contract, csv_file(tmp_path, "ZZS_acme_2023-24.csv", lines))
    land_file(contract, csv_file(tmp_path, "ZZS_acme_2024-25.csv", lines[:2]))
    assert (r1.rows_loaded, r1.rows_quarantined) == (1, 2)
    keys = db.execute("select student_id_key from raw.zz_students order by _submission_id").fetchall()
    assert keys[0] == keys[1] and len(keys[0][0]) == 64  # same student, same pseudonym across years
    columns = [
        r[0]
        for r in db.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = 'zz_students'"
        )
    ]
    assert "student_id" not in columns
    dumped = json.dumps(
        db.execute("select * from audit.quarantine where submission_id = %s", (r1.submission_id,)).fetchall(),
        default=str,
    )
    dumped += json.dumps(db.execute("select * from raw.zz_students").fetchall(), default=str)
    assert "S1000001" not in dumped and "S1000002" not in dumped


# --- atomicity and concurrency ----------------------------------------------------------------------


def test_connection_killed_mid_copy_then_retry_leaves_one_copy(db, zz, tmp_path, monkeypatch):
    from innovation_pipeline import copy_stream

    lines = [
        "Dist No,Grade,Competency,Students Defended",
        "001,5,resiliency,1",
        "001,8,resiliency,2",
        "001,12,resiliency,3",
        "001,5,innovation,4",
    ]
    path = csv_file(tmp_path, "ZZ_001_2025-26.csv", lines)
    real_send = copy_stream._RowStream._send
    seen: dict[str, object] = {}

    def send_then_die(stream, payload):
        # The raw rows' COPY is open and has its first batch: the server process dies now.
        real_send(stream, payload)
        if "query" not in seen:
            pid = stream.conn.info.backend_pid
            time.sleep(0.2)  # the writer thread hands the batch to the server
            seen["query"] = db.execute(
                "select query from pg_stat_activity where pid = %s", (pid,)
            ).fetchone()[0]
            db.execute("select pg_terminate_backend(%s)", (pid,))
            time.sleep(0.2)

    monkeypatch.setattr(copy_stream._RowStream, "_send", send_then_die)
    with pytest.raises(psycopg.OperationalError):
        land_file(zz, path, batch_rows=2)
    assert str(seen["query"]).lower().startswith("copy"), seen  # killed mid-COPY, not after it
    assert (
        db.execute("select count(*) from audit.submissions where file_name = %s", (path.name,)).fetchone()[0]
        == 0
    )
    monkeypatch.setattr(copy_stream._RowStream, "_send", real_send)
    result = land_file(zz, path, batch_rows=2)
    assert result.rows_loaded == 4
    assert (
        db.execute(
            "select count(*) from raw.zz_skills r join audit.submissions s on s.submission_id = r._submission_id"
            " where s.file_name = %s",
            (path.name,),
        ).fetchone()[0]
        == 4
    )


def test_same_file_to_two_tasks_at_once_is_loaded_once(db, zz, tmp_path):
    lines = ["Dist No,Grade,Competency,Students Defended"] + [
        f"002,{g},{c},{n}"
        for n, (g, c) in enumerate([(5, "resiliency"), (8, "resiliency"), (12, "innovation")])
    ]
    path = csv_file(tmp_path, "ZZ_002_2025-26.csv", lines)
    results: list = []
    errors: list = []
    barrier = threading.Barrier(2)

    def deliver():
        barrier.wait()
        try:
            results.append(land_file(zz, path))
        except BaseException as exc:  # a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 2
    assert {r.submission_id for r in results} == {results[0].submission_id}
    assert (
        db.execute(
            "select count(*) from raw.zz_skills where _submission_id = %s", (results[0].submission_id,)
        ).fetchone()[0]
        == 3
    )


# --- contracts ------------------------------------------------------------------------------------


def test_contract_typo_names_file_and_key(tmp_path):
    data = json.loads(json.dumps(CONTRACT))
    data["file"]["delimeter"] = ";"
    path = tmp_path / "zz_skills.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert "zz_skills.yml" in str(info.value) and "file.delimeter" in str(info.value)
    assert "unknown key" in str(info.value)


def test_contract_semantic_errors(tmp_path):
    data = json.loads(json.dumps(CONTRACT))
    data["natural_key"] = ["grade", "colour"]
    data["fields"][0]["allowed"] = None
    path = tmp_path / "zz_skills.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    text = str(info.value)
    assert "fields.0" in text and "category field needs allowed values" in text


def test_all_project_contracts_validate():
    from innovation_pipeline.contracts import contract_paths

    paths = contract_paths(ROOT / "programs")  # _measures.yml is the measure catalog, not a contract
    assert len(paths) >= 2
    for path in paths:
        assert load_contract(path).source == path.stem


# --- the fast paths: polars CSV reader, duplicate keys while streaming --------------------------------

# CONTRACT without skip/stop rules: its UTF-8 files go through polars' reader.
PLAIN = dict(CONTRACT, source="zz_plain", rows={"skip_blank": True})
PLAIN_HEADER = "Dist No,Grade,Competency,Students Defended,School"
PLAIN_ROW = "001,5,resiliency,12,Lincoln"
MANY = [f"001,{g},{c},{n},School {n}" for n in range(300) for g, c in (("5", "resiliency"),)]

FAST_CASES = {
    "plain LF": f"{PLAIN_HEADER}\n{PLAIN_ROW}\n{PLAIN_ROW}\n",
    "CRLF and no final newline": f"{PLAIN_HEADER}\r\n{PLAIN_ROW}\r\n{PLAIN_ROW}",
    "blank and whitespace rows count as rows": f"{PLAIN_HEADER}\n{PLAIN_ROW}\n\n  \n,,,,\n\u3000,\x1c\n{PLAIN_ROW}\n\n",
    "short row": f"{PLAIN_HEADER}\n001,5\n{PLAIN_ROW}\n",
    "row longer than the header": f"{PLAIN_HEADER}\n{PLAIN_ROW},extra\n{PLAIN_ROW}\n",
    "quoted newline and doubled quotes": f'{PLAIN_HEADER}\n001,5,"resil\niency","1,2","Say ""hi"""\n{PLAIN_ROW}\n',
    "byte-order mark": f"\ufeff{PLAIN_HEADER}\n{PLAIN_ROW}\n",
    "stray quote": f'{PLAIN_HEADER}\n{PLAIN_ROW}\n001,5,res"il,1,x\n{PLAIN_ROW}\n',
    "unterminated quote": f'{PLAIN_HEADER}\n{PLAIN_ROW}\n001,"5,resiliency,1,x\n{PLAIN_ROW}\n',
    "NUL byte": f"{PLAIN_HEADER}\n001,5,resil\x00iency,1,x\n",
    "quoted header": f'"Dist No","Grade",Competency,Students Defended,School\n{PLAIN_ROW}\n',
    "many blocks": PLAIN_HEADER + "\n" + "\n".join(MANY) + "\n",
    "quoted newlines across blocks": PLAIN_HEADER
    + "\n"
    + "\n".join(f'001,5,resiliency,{n},"School\n""{n}""\nAnnex"' for n in range(200))
    + "\n",
    "stray quote late": PLAIN_HEADER + "\n" + "\n".join([*MANY[:200], '001,5,a"b,1,x', *MANY[200:]]) + "\n",
    "lone CR late": PLAIN_HEADER + "\n" + "\n".join([*MANY[:200], "001,5\r,x,1,y", *MANY[200:]]) + "\n",
    "runaway quote late": PLAIN_HEADER + "\n" + "\n".join([*MANY[:250], '001,"5,x,1,y', *MANY[250:]]) + "\n",
}


def _read_all(contract: Contract, path: Path, monkeypatch, fast: bool):  # type: ignore[no-untyped-def]
    import polars as pl

    from innovation_pipeline import readers

    try:
        source = readers.open_source(contract, path, path.name, batch_size=7, fast_csv=fast)
        frames = list(source.batches())
    except FileRejected as exc:
        return ("rejected", exc.code), None
    frame = pl.concat(frames) if frames else None
    # A short row's missing cells: None from the csv module, empty text from polars (both blank).
    if frame is not None:
        frame = frame.with_columns(pl.col(pl.String).fill_null(""))
    return frame, (source.stats, source.mapping, source.header_row)


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> dict[str, int]:
    """Wrap ``module.name`` so the returned dict's "n" counts its calls."""
    calls = {"n": 0}
    real = getattr(module, name)

    def counting(*args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(module, name, counting)
    return calls


@pytest.mark.parametrize("case", sorted(FAST_CASES))
def test_fast_csv_reader_reads_every_file_as_the_csv_module_does(tmp_path, monkeypatch, case):
    from polars.testing import assert_frame_equal

    from innovation_pipeline.readers import csv_fast

    contract = write_contract(tmp_path, PLAIN)
    path = tmp_path / "ZZ_001_2023-24.csv"
    path.write_bytes(FAST_CASES[case].encode("utf-8"))
    # Tiny blocks: records cross block boundaries, and late problems hand over mid-file.
    monkeypatch.setattr(csv_fast, "FAST_BLOCK_BYTES", 1024)
    monkeypatch.setattr(csv_fast, "FAST_MAX_PENDING", 2048)
    parsed = _count_calls(monkeypatch, csv_fast, "_parse_block")
    handed = _count_calls(monkeypatch, csv_fast, "_batched_text")
    fast, fast_meta = _read_all(contract, path, monkeypatch, fast=True)
    assert parsed["n"] > 0, "the polars reader was not used"
    if case not in {"row longer than the header", "stray quote", "unterminated quote"} and "late" not in case:
        assert handed["n"] == 0, "a well-formed file was handed to the csv module"
    slow, slow_meta = _read_all(contract, path, monkeypatch, fast=False)
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return
    assert_frame_equal(fast, slow)
    assert fast_meta == slow_meta


def test_fast_csv_reader_hands_non_utf8_bytes_to_the_csv_module(db, zz, tmp_path):
    contract = write_contract(tmp_path, dict(PLAIN, file=dict(PLAIN["file"], encoding="utf-8")))
    path = tmp_path / "ZZ_001_2023-24.csv"
    path.write_bytes(f"{PLAIN_HEADER}\n{PLAIN_ROW}\n001,5,resiliency,1,Caf".encode() + b"\xe9\n")
    with pytest.raises(FileRejected) as info:
        land_file(contract, path)
    assert info.value.code == "unreadable"


@pytest.mark.parametrize("tracked", [None, 3])
def test_duplicate_keys_across_batches_are_found_as_the_database_finds_them(
    db, zz, tmp_path, monkeypatch, tracked
):
    from innovation_pipeline import duplicates
    from innovation_pipeline.readers import csv_fast

    if tracked:
        # Past this many keys the tracker hands the rest of the file over to the database check.
        monkeypatch.setattr(duplicates, "MAX_TRACKED_KEYS", tracked)
    source = f"zz_dupes_{tracked or 'all'}"
    contract = write_contract(tmp_path, dict(PLAIN, source=source, natural_key=["grade", "competency"]))
    rows = [
        "001,5,resiliency,1,a",  # row 2: first of (5, resiliency)
        "001,8,resiliency,2,b",
        "001,5,resiliency,3,c",  # the next batch
        "001,12,innovation,4,d",
        "001,5,resiliency,5,e",  # a later batch again
        "001,5,innovation,6,f",
        "001,8,resiliency,7,g",
        "001,5,innovation,8,h",  # within its own batch
        "001,12,innovation,bad,i",  # quarantined for its count: not a first row
        "001,12,innovation,9,j",
    ]
    monkeypatch.setattr(csv_fast, "FAST_BLOCK_BYTES", 64)  # a few rows a block
    streamed = land_file(
        contract, csv_file(tmp_path, "ZZ_001_2023-24.csv", [PLAIN_HEADER, *rows]), batch_rows=2
    )
    # The same rows again (an extra blank line at the end makes it another file), with the
    # duplicates left to the database's whole-submission check.
    tracker_init = duplicates.KeyTracker.__init__

    def database_check(self, ctx):  # type: ignore[no-untyped-def]
        tracker_init(self, ctx)
        self.active = False

    monkeypatch.setattr(duplicates.KeyTracker, "__init__", database_check)
    in_db = land_file(
        contract, csv_file(tmp_path, "ZZ_001_2023-24_v2.csv", [PLAIN_HEADER, *rows, ""]), batch_rows=2
    )
    assert (
        (streamed.rows_loaded, streamed.rows_quarantined)
        == (in_db.rows_loaded, in_db.rows_quarantined)
        == (4, 6)
    )
    assert quarantine(db, streamed.submission_id) == quarantine(db, in_db.submission_id)
    assert "row 2 already has the same grade and competency" in str(quarantine(db, streamed.submission_id))
    loaded = [
        db.execute(
            f"select _source_row, grade, competency from raw.{source} where _submission_id = %s order by 1",
            (s,),
        ).fetchall()
        for s in (streamed.submission_id, in_db.submission_id)
    ]
    assert (
        loaded[0]
        == loaded[1]
        == [(2, "5", "resiliency"), (3, "8", "resiliency"), (5, "12", "innovation"), (7, "5", "innovation")]
    )


def test_server_error_mid_stream_aborts_the_load_and_leaves_nothing(db, zz, tmp_path, monkeypatch):
    from innovation_pipeline import copy_stream
    from innovation_pipeline.readers import csv_fast

    contract = write_contract(tmp_path, dict(PLAIN, source="zz_stream"))
    lines = [PLAIN_HEADER, *[f"001,{g},resiliency,{n},x" for n in range(20) for g in ("5", "8", "12")][:30]]
    path = csv_file(tmp_path, "ZZ_001_2023-24.csv", lines)
    monkeypatch.setattr(csv_fast, "FAST_BLOCK_BYTES", 64)
    real_encode = copy_stream._encode_rows
    calls = {"n": 0}

    def corrupt_third_batch(frame):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        payload = real_encode(frame)
        return b"not,a,row\n" + payload if calls["n"] == 3 else payload

    monkeypatch.setattr(copy_stream, "_encode_rows", corrupt_third_batch)
    # The server refuses the stream's data: the load rolls back, and the safety net records the
    # file as rejected (the same bytes would fail the same way), with none of its rows.
    with pytest.raises(FileRejected) as info:
        land_file(contract, path, batch_rows=2)
    assert info.value.code == "load_failed" and "InvalidTextRepresentation" in str(info.value)
    assert calls["n"] >= 3
    assert db.execute(
        "select status, rows_loaded from audit.submissions where source = 'zz_stream'"
    ).fetchall() == [("rejected", 0)]
    assert db.execute("select count(*) from raw.zz_stream").fetchone()[0] == 0
    monkeypatch.setattr(copy_stream, "_encode_rows", real_encode)
    result = land_file(contract, path, batch_rows=2, reprocess=True)
    assert (result.rows_received, result.rows_loaded + result.rows_quarantined) == (30, 30)


def test_raw_tables_keep_lineage_per_submission_and_older_tables_still_load(db, zz, tmp_path):
    """Rows carry their submission id, not the file's hash (it is on audit.submissions); a raw
    table made before that (hash column NOT NULL, B-tree index) takes new loads unchanged."""
    zz_old = write_contract(tmp_path, {**CONTRACT, "source": "zz_old"})
    db.execute("create schema if not exists raw")
    db.execute(
        "create table raw.zz_old (_submission_id bigint not null, _file_sha256 text not null, _sheet text,"
        " _source_row integer not null, _loaded_at timestamptz not null default now(), row_kind text not null,"
        " state text, district_id text, district_source_value text, school_year smallint)"
    )
    db.execute("create index zz_old_submission on raw.zz_old (_submission_id)")
    lines = ["Dist No,Grade,Competency,Students Defended", "002,5,innovation,30", "002,8,innovation,31"]
    old = land_file(zz_old, csv_file(tmp_path, "ZZ_002_2023-24.csv", lines))
    new = land_file(zz, csv_file(tmp_path, "ZZ_002_2023-24.csv", lines))
    assert (old.rows_loaded, new.rows_loaded) == (2, 2)
    methods = dict(
        db.execute(
            "select c.relname, am.amname from pg_index i join pg_class c on c.oid = i.indexrelid"
            " join pg_am am on am.oid = c.relam where c.relname in ('zz_old_submission', 'zz_skills_submission')"
        ).fetchall()
    )
    assert methods == {"zz_old_submission": "btree", "zz_skills_submission": "brin"}
    columns = {
        r[0]
        for r in db.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = 'zz_skills'"
        ).fetchall()
    }
    assert "_file_sha256" not in columns and "_submission_id" in columns
    # The file's hash is one join away, and the BRIN index finds the submission's rows.
    assert db.execute(
        "select count(*), min(s.file_sha256) = max(s.file_sha256) from raw.zz_skills r"
        " join audit.submissions s on s.submission_id = r._submission_id where r._submission_id = %s",
        (new.submission_id,),
    ).fetchone() == (2, True)
