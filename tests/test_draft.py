"""``draft`` on every real state file: the contract it writes passes ``check`` against the file
and loads it, with the edits listed here (each one a line a person changes in the YAML)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import psycopg
import pytest
import yaml
from contract_helpers import use_real_directory

from innovation_pipeline.contract_check import check_contract
from innovation_pipeline.contracts import load_contract
from innovation_pipeline.draft import Directory, draft_contract
from innovation_pipeline.landing import land_file

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
CCD = SHARED_REAL / "nces_ccd_lea_directory_2024-25_7states.csv"

# file -> (name the file is delivered under, contract edits needed)
REAL_FILES = {
    "co_cde_2022-2023_ChronicAbsenteeism_by_district.xlsx": (None, {}),
    "co_cde_2023-2024_ChronicAbsenteeism_by_school_suppressed.xlsx": (None, {}),
    "ky_kidscount_hs_graduation_rates_2003-2009.csv": (None, {}),
    "nces_ccd_lea_directory_2024-25_7states.csv": (None, {}),
    "nh_doe_district_fall_enrollments_2024-25.xlsx": (None, {}),
    "us_edfacts_acgr_school_sy2013-14.csv": (None, {}),
    # The export carries no school year anywhere: it is delivered with one in its name.
    "wa_nces_district_search_export.csv": ("wa_nces_district_search_export_2024-25.csv", {}),
}


def data_rows(path: Path) -> int:
    """Rows of data in a real file, counted from the file by what each layout is known to hold
    (SOURCES.md): district rows with a code, plus the state-total row where there is one."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode("utf-8", errors="replace")
        return sum(1 for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)) - 1
    ws = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if "District Code" in r or "District #" in r)
    col = rows[header].index("District Code" if "District Code" in rows[header] else "District #")
    coded = sum(1 for r in rows[header + 1 :] if len(r) > col and str(r[col] or "").strip().isdigit())
    state = sum(
        1
        for r in rows[header + 1 :]
        if any(str(c).strip() in ("State Total", "State Totals") for c in r if c)
    )
    return coded + state


@pytest.fixture(scope="module")
def directory(isolated_warehouse_url) -> Directory:
    use_real_directory(isolated_warehouse_url, CCD)
    with psycopg.connect(isolated_warehouse_url) as conn:
        cur = conn.execute("select district_id, state, state_code, nces_lea_id, name from ref.districts")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, (v or "" for v in r), strict=True)) for r in cur.fetchall()]
    return Directory.from_rows(rows)


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_draft_checks_and_loads_each_real_file(directory, tmp_path, name):
    delivered, edits = REAL_FILES[name]
    sample = SHARED_REAL / name
    text = draft_contract(sample, directory=directory)
    data = yaml.safe_load(text)
    for key, value in edits.items():
        data[key] = value
    path = tmp_path / f"{data['source']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    contract = load_contract(path)
    file = sample
    if delivered:
        file = tmp_path / delivered
        shutil.copy(sample, file)
    assert check_contract(contract, file) == [], text
    result = land_file(contract, file)
    assert result.status == "loaded", text
    assert result.rows_received == result.rows_loaded + result.rows_quarantined
    assert result.rows_loaded > 0
    assert result.rows_received == data_rows(sample), text


def test_the_draft_command_writes_a_contract_that_check_accepts(tmp_path, capsys):
    from innovation_pipeline.cli import main

    sample = SHARED_REAL / "co_cde_2022-2023_ChronicAbsenteeism_by_district.xlsx"
    out = tmp_path / "co_cde_chronic.yml"
    assert main(["draft", str(sample), "--out", str(out), "--source", "co_cde_chronic"]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Drafted by")
    contract = load_contract(out)
    assert contract.district.column == "District Code" and contract.district.width == 4
    assert contract.rows.state_total is not None and contract.school_year.source == "column"
    assert main(["check", str(out), "--file", str(sample)]) == 0
