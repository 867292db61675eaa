"""Trying a contract: ``check`` catches what would fail later, ``preview`` runs the load itself
on the whole file and rolls it back, printing the counts ``load`` then records."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest
import yaml
from contract_helpers import use_real_directory

from innovation_pipeline.cli import main
from innovation_pipeline.contracts import contract_paths, load_contract
from innovation_pipeline.landing import land_file
from innovation_pipeline.preview import preview

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "real"
CO_FILE = SHARED_REAL / "co_cde_2022-2023_ChronicAbsenteeism_by_district.xlsx"
KY_FILE = SHARED_REAL / "ky_kidscount_hs_graduation_rates_2003-2009.csv"
COUNTS = re.compile(
    r"A load would record: (\d+) rows received, (\d+) loaded, (\d+) quarantined, (\d+) skipped"
)


def test_every_contract_in_programs_passes_check(capsys):
    paths = contract_paths()
    assert len(paths) >= 9
    assert main(["check", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == len(paths)


def _contract(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((ROOT / "programs" / "co_chronic_absenteeism.yml").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "co_chronic_absenteeism.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_check_catches_what_would_fail_later(tmp_path, capsys):
    bad_regex = _contract(tmp_path, rows={"skip": [{"column": "County Name", "matches": "Total("}]})
    assert main(["check", str(bad_regex)]) == 1
    assert "not a valid regular expression" in capsys.readouterr().out

    typo = _contract(tmp_path, rows={"skip": [{"column": "Countie Name", "equals": "x"}]})
    assert main(["check", str(typo)]) == 1
    assert "rows.skip: column 'Countie Name' is not any column this contract reads" in capsys.readouterr().out

    # Against the real file: a rule on a column the header lacks, and markers nobody listed.
    data = yaml.safe_load(_contract(tmp_path).read_text(encoding="utf-8"))
    data["suppression"] = {"markers": ["PS"]}
    data["rows"]["skip"] = [{"column": "Note", "equals": "x"}]
    path = tmp_path / "co_chronic_absenteeism.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert main(["check", str(path), "--file", str(CO_FILE)]) == 1
    out = capsys.readouterr().out
    assert "rows.skip rule reads column(s) 'Note'" in out or "column 'Note' is not the header" in out

    ok = _contract(tmp_path)
    assert main(["check", str(ok), "--file", str(CO_FILE)]) == 0


def test_check_names_unknown_markers_in_a_sample(tmp_path, capsys):
    edfacts = tmp_path / "us_edfacts_acgr_school_sy2013-14.csv"
    lines = (SHARED_REAL / "us_edfacts_acgr_school_sy2013-14.csv").read_text(encoding="utf-8").splitlines()
    edfacts.write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    data = {
        "source": "us_edfacts_probe",
        "title": "probe",
        "state": "US",
        "program": "state_outcomes",
        "entity": "a school",
        "submitter": "state",
        "due": {"month": 12, "day": 31},
        "file": {"pattern": r"^us_edfacts_acgr_school_sy(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
        "district": {"scheme": "nces_lea_id", "column": "LEAID"},
        "suppression": {"markers": ["PS"]},
        "fields": [
            {"name": "school_id", "source": "NCESSCH", "type": "text"},
            {
                "name": "mam_cohort",
                "source": {"pattern": r"MAM_COHORT_(\d{4})"},
                "type": "integer",
                "suppressible": True,
            },
            {"name": "all_cohort", "source": {"pattern": r"ALL_COHORT_(\d{4})"}, "type": "integer"},
        ],
        "natural_key": ["school_id"],
    }
    path = tmp_path / "us_edfacts_probe.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert main(["check", str(path), "--file", str(edfacts)]) == 1
    out = capsys.readouterr().out
    expected = {line.split(",")[8] for line in lines[1:400]} - {"PS"}
    assert all(v.isdigit() for v in expected - {"."}) and "." in expected
    assert "fields.mam_cohort: column 'MAM_COHORT_1314' has marker(s) '.'" in out


@pytest.fixture(scope="module")
def isolated(isolated_warehouse_url):
    use_real_directory(isolated_warehouse_url, SHARED_REAL / "nces_ccd_lea_directory_2024-25_7states.csv")
    return isolated_warehouse_url


def _count(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        subs = conn.execute("select count(*) from audit.submissions").fetchone()[0]
        quarantined = conn.execute("select count(*) from audit.quarantine").fetchone()[0]
    return subs, quarantined


def test_preview_prints_the_counts_load_records_and_keeps_nothing(isolated, tmp_path):
    contract = load_contract(ROOT / "programs" / "co_chronic_absenteeism.yml")
    before = _count(isolated)
    text = preview(contract, CO_FILE)
    assert _count(isolated) == before
    with psycopg.connect(isolated) as conn:
        assert conn.execute("select to_regclass('raw.co_chronic_absenteeism')").fetchone()[0] is None
    match = COUNTS.search(text)
    assert match, text
    result = land_file(contract, CO_FILE)
    assert tuple(map(int, match.groups())) == (
        result.rows_received,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_skipped,
    )
    assert result.rows_received == 186


def test_preview_and_load_agree_when_rows_carry_other_years(isolated, tmp_path):
    """KIDS COUNT's seven years in one file, with the year taken from a column: the whole-file
    year check quarantines the other years, and preview says so before the load does."""
    data = {
        "source": "ky_kidscount_grad",
        "title": "KIDS COUNT graduation",
        "state": "KY",
        "program": "state_outcomes",
        "kind": "outcomes",
        "entity": "a district's graduation figure in one year",
        "submitter": "state",
        "due": {"month": 12, "day": 31},
        "file": {"pattern": r"^ky_kidscount_hs_graduation_rates_.*\.csv$", "format": "csv"},
        "rows": {
            "keep": [{"column": "DataFormat", "equals": "Number"}],
            "state_total": {
                "all": [
                    {"column": "LocationType", "equals": "State"},
                    {"column": "Location", "equals": "Kentucky"},
                ]
            },
        },
        "district": {"scheme": "name", "column": "Location"},
        "school_year": {"source": "column", "column": "TimeFrame"},
        "suppression": {"markers": ["*", "**"]},
        "fields": [{"name": "graduates", "source": "Data", "type": "integer", "suppressible": True}],
        "natural_key": ["district_id"],
    }
    path = tmp_path / "ky_kidscount_grad.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    contract = load_contract(path)
    copy = tmp_path / KY_FILE.name
    shutil.copy(KY_FILE, copy)
    text = preview(contract, copy)
    match = COUNTS.search(text)
    assert match, text
    result = land_file(contract, copy)
    assert tuple(map(int, match.groups())) == (
        result.rows_received,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_skipped,
    )
    with KY_FILE.open(encoding="utf-8") as fh:
        numbers = [line for line in fh if ",Number," in line]
    assert result.rows_received == len(numbers)
    assert result.rows_skipped == sum(1 for _ in KY_FILE.open(encoding="utf-8")) - 1 - len(numbers)
