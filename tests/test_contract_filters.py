"""Row filters on real and realistic files: keep and skip rules with all-of / any-of conditions,
equals, in-lists, regexes and numeric comparisons, applied to every row kind (state-total rows
too), and a state-total rule with more than one condition."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from contract_helpers import use_real_directory, write_contract
from real_file_contracts import NH_CONTRACT

from innovation_pipeline.contracts import ContractError
from innovation_pipeline.landing import FileRejected, land_file

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
NH_FILE = SHARED_REAL / "nh_doe_district_fall_enrollments_2024-25.xlsx"
CCD = SHARED_REAL / "nces_ccd_lea_directory_2024-25_7states.csv"


def nh_rows() -> list[tuple[int, list]]:
    ws = openpyxl.load_workbook(NH_FILE, read_only=True, data_only=True).worksheets[0]
    return list(enumerate((list(r) for r in ws.iter_rows(values_only=True)), start=1))


@pytest.fixture(scope="module")
def real_dir(isolated_warehouse_url):
    return use_real_directory(isolated_warehouse_url, CCD)


@pytest.fixture()
def db(isolated_warehouse_url):
    import psycopg

    with psycopg.connect(isolated_warehouse_url, autocommit=True) as conn:
        yield conn


def test_nh_sections_repeated_headers_totals_and_footnotes(db, real_dir, tmp_path):
    contract = write_contract(tmp_path, NH_CONTRACT)
    result = land_file(contract, NH_FILE, original_name="nh_doe_district_fall_enrollments_2024-25.xlsx")

    # What the file itself says: district rows carry an integer district number.
    rows = nh_rows()
    districts = [(n, r) for n, r in rows if n > 12 and len(r) > 10 and isinstance(r[2], int)]
    state = next(r for n, r in rows if len(r) > 3 and r[3] == "State Totals")
    nh_codes = {v.split("-")[1] for k, v in real_dir.items() if v.startswith("NH-")}
    known = [(n, r) for n, r in districts if f"{r[2]:03d}" in nh_codes]
    seen: set[int] = set()
    first = []
    for n, r in known:
        if r[2] not in seen:
            seen.add(r[2])
            first.append((n, r))
    assert result.status == "loaded"
    assert result.rows_received == len(districts) + 1
    assert result.rows_loaded == len(first) + 1
    assert result.rows_quarantined == len(districts) - len(first)
    got = db.execute(
        "select row_kind, count(*), sum(total), sum(high) from raw.nh_fall_enrollment"
        " where _submission_id = %s group by row_kind order by row_kind",
        (result.submission_id,),
    ).fetchall()
    assert got == [
        ("district", len(first), sum(r[10] for _, r in first), sum(r[8] for _, r in first)),
        ("state_total", 1, state[10], state[8]),
    ]
    reasons = db.execute(
        "select reason_code, count(*) from audit.quarantine where submission_id = %s group by 1 order by 1",
        (result.submission_id,),
    ).fetchall()
    dupes = len(known) - len(first)
    expected = [("duplicate_key", dupes)] if dupes else []
    if len(districts) > len(known):
        expected.append(("unknown_district", len(districts) - len(known)))
    assert reasons == expected
    # 388 appears twice in the file (two districts): the second is reported, not merged.
    assert dupes >= 1


def test_rules_apply_to_state_total_rows_with_in_lists_and_numbers(db, real_dir, tmp_path):
    """One state row per grade: a keep rule picks the all-grades rows of both kinds, and a numeric
    skip rule drops an empty row whatever its kind."""
    data = {
        **NH_CONTRACT,
        "source": "zz_grade_rows",
        "file": {"pattern": r"^grades_(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
        "rows": {
            "keep": [{"column": "Grade", "in": ["All Grades", "ALL"]}],
            "skip": [{"all": [{"column": "Enrollment", "lt": 1}, {"column": "Enrollment", "ge": 0}]}],
            "state_total": {
                "all": [{"column": "District #", "blank": True}, {"column": "Name", "matches": "^state"}]
            },
        },
        "district": {"scheme": "state_code", "column": "District #", "width": 3},
        "fields": [
            {"name": "grade", "source": "Grade", "type": "text"},
            {"name": "enrollment", "source": "Enrollment", "type": "integer", "min": 0},
        ],
    }
    contract = write_contract(tmp_path, data)
    path = tmp_path / "grades_2024-25.csv"
    lines = [
        "District #,Name,Grade,Enrollment",
        ',State of NH,All Grades,"162,660"',
        ",State of NH,Grade 5,13000",
        ",State of NH,Grade 6,0",
        "9,Allenstown,All Grades,348",
        "9,Allenstown,Grade 5,40",
        "15,Alton,all grades,407",
        "17,Amherst,All Grades,0",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = land_file(contract, path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
    assert result.rows_skipped == 4
    got = db.execute(
        "select row_kind, district_id, enrollment from raw.zz_grade_rows where _submission_id = %s"
        " order by _source_row",
        (result.submission_id,),
    ).fetchall()
    assert got == [("state_total", None, 162660), ("district", "NH-009", 348), ("district", "NH-015", 407)]


def test_a_rule_on_a_column_the_header_lacks_rejects_the_file(real_dir, tmp_path):
    data = {
        **NH_CONTRACT,
        "source": "zz_typo_rule",
        "file": {"pattern": r"^typo_(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
        "rows": {"skip": [{"column": "Grade Level", "equals": "Total"}]},
        "fields": [{"name": "total", "source": "Total", "type": "integer"}],
    }
    contract = write_contract(tmp_path, data)
    path = tmp_path / "typo_2024-25.csv"
    path.write_text("District #,Total\n9,348\n", encoding="utf-8")
    with pytest.raises(FileRejected, match=r"rows\.skip rule reads column.*'Grade Level'"):
        land_file(contract, path)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"column": "X", "matches": "(unclosed"}, "not a valid regular expression"),
        ({"column": "X"}, "give a test"),
        ({"all": [{"column": "X", "equals": "a"}], "column": "X"}, "either all/any/not"),
        ({"all": []}, "at least one condition"),
        ({"column": "X", "gt": "many"}, "valid number"),
    ],
)
def test_bad_rules_are_contract_errors(tmp_path, rule, message):
    data = {**NH_CONTRACT, "rows": {"skip": [rule]}}
    with pytest.raises(ContractError, match=message):
        write_contract(tmp_path, data)


def test_numbers_written_in_yaml_compare_as_the_text_a_cell_shows(tmp_path):
    data = {
        **NH_CONTRACT,
        "rows": {"keep": [{"column": "Year", "equals": 2009}, {"column": "FIPS", "in": [21, "08"]}]},
    }
    contract = write_contract(tmp_path, data)
    assert contract.rows.keep[0].equals == "2009"
    assert contract.rows.keep[1].in_ == ["21", "08"]
