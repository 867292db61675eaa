"""The sample generator and the reference directory: deterministic, consistent with the contracts,
and its manifest exact about what each file holds (pure file checks; landing is tested elsewhere)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import openpyxl
import pytest
from innovation_samples import generate
from innovation_samples.directory import build, read_aliases, read_directory

from innovation_pipeline.contracts import (
    Contract,
    contract_paths,
    find_contract,
    load_contract,
    load_contracts,
)
from innovation_pipeline.parsing import normalize_name

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "programs" / "reference"
ROW_REASONS = {
    "missing_value",
    "not_a_number",
    "unknown_marker",
    "not_whole_number",
    "out_of_range",
    "not_allowed_value",
    "bad_date",
    "bad_school_year",
    "school_year_out_of_range",
    "unknown_district",
    "district_mismatch",
    "duplicate_key",
    "value_too_long",
}
FILE_REASONS = {
    "empty_file",
    "unreadable",
    "missing_columns",
    "no_data_rows",
    "too_few_rows",
    "bad_file_name",
}
STATE_SIZES = {"CO": 188, "KY": 171, "MT": 400, "NH": 180, "ND": 170, "UT": 155, "WA": 295}
FIPS = {"KY": "21", "MT": "30", "NH": "33", "ND": "38", "UT": "49", "WA": "53"}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out


@pytest.fixture(scope="module")
def manifest(samples: Path) -> dict:
    return json.loads((samples / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return load_contracts()


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(samples: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again)
    assert _tree(again) == _tree(samples)


def test_another_seed_gives_other_figures(samples: Path, tmp_path: Path) -> None:
    generate(tmp_path / "other", seed=7)
    first, second = _tree(samples), _tree(tmp_path / "other")
    # The files themselves, not the manifest (which records the seed, so it always differs).
    data = {k for k in first.keys() & second.keys() if not k.endswith("manifest.json")}
    assert data and any(first[k] != second[k] for k in data)


def test_rerun_replaces_the_previous_inbox(tmp_path: Path) -> None:
    generate(tmp_path, years=(2022, 2023, 2024))
    stray = tmp_path / "inbox" / "ky_local_labs" / "KY_LLL_999_2099-00.csv"
    stray.write_text("left over", encoding="utf-8")
    manifest = generate(tmp_path)
    listed = {f["path"] for f in manifest["files"]}
    assert {p for p in _tree(tmp_path) if p != "manifest.json"} == listed


# --- file names and contracts -----------------------------------------------------------------------


def test_every_contract_validates() -> None:
    paths = contract_paths(ROOT / "programs")
    assert {p.stem for p in paths} >= {
        "co_local_accountability",
        "ky_local_labs",
        "mt_transformational_learning",
        "nh_learn_everywhere",
        "nd_innovative_education",
        "ut_pcbl_grants",
        "wa_mastery_learning",
        "state_outcomes",
        "co_chronic_absenteeism",
    }
    for path in paths:
        assert load_contract(path).source == path.stem


def test_every_file_matches_exactly_its_own_contract(manifest: dict, contracts: dict[str, Contract]) -> None:
    for entry in manifest["files"]:
        name = Path(entry["path"]).name
        matching = [c.source for c in contracts.values() if c.matches_file(name)]
        assert matching == [entry["source"]], name
        assert find_contract(name, contracts.values()).source == entry["source"]


def test_file_count_and_participation(manifest: dict) -> None:
    assert 100 <= len(manifest["files"]) <= 130
    loaded = Counter(
        f["source"] for f in manifest["files"] if f["expected_status"] in ("loaded", "superseded")
    )
    # one file per participant per year (plus the superseded originals), one compiled file a year
    assert loaded["co_local_accountability"] == 10 * 3 + 1
    assert loaded["ky_local_labs"] == 8 * 3
    assert loaded["ut_pcbl_grants"] == 6 * 3
    assert loaded["nh_learn_everywhere"] == 4 * 3
    for source in ("mt_transformational_learning", "nd_innovative_education", "wa_mastery_learning"):
        assert loaded[source] == 3
    assert loaded["state_outcomes"] == 7 * 3 + 1


# --- manifest consistency ---------------------------------------------------------------------------


def test_manifest_hashes_and_counts(samples: Path, manifest: dict) -> None:
    for entry in manifest["files"]:
        content = (samples / entry["path"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert entry["rows_received"] == entry["rows_loaded"] + entry["rows_quarantined"]
        if entry["expected_status"] in ("loaded", "superseded"):
            assert entry["rows_received"] > 0 and entry["reason_code"] is None
        else:
            assert entry["rows_received"] == 0
        assert (entry["expected_status"] == "rejected") == (entry["reason_code"] is not None)


def test_quarantined_rows_are_the_defect_rows(manifest: dict) -> None:
    rows = defaultdict(set)
    for defect in manifest["defects"]:
        rows[defect["file"]].add(defect["source_row"])
    for entry in manifest["files"]:
        assert entry["rows_quarantined"] == len(rows.pop(entry["path"], set())), entry["path"]
    assert not rows, f"defects in files that do not load: {sorted(rows)}"


def test_every_reason_code_is_exercised(manifest: dict) -> None:
    assert {d["reason_code"] for d in manifest["defects"]} == ROW_REASONS
    assert {f["reason_code"] for f in manifest["files"] if f["reason_code"]} == FILE_REASONS
    statuses = Counter(f["expected_status"] for f in manifest["files"])
    assert (
        statuses["duplicate"] >= 1
        and statuses["superseded"] >= 1
        and statuses["rejected"] >= len(FILE_REASONS)
    )
    # a row with two problems: two defects, one quarantined row
    per_row = Counter((d["file"], d["source_row"]) for d in manifest["defects"])
    assert max(per_row.values()) == 2


def test_statuses_follow_file_name_order(manifest: dict) -> None:
    by_source = defaultdict(list)
    for entry in manifest["files"]:
        by_source[entry["source"]].append(entry)
    for entries in by_source.values():
        entries.sort(key=lambda e: Path(e["path"]).name)
        for i, entry in enumerate(entries):
            earlier, later = entries[:i], entries[i + 1 :]
            if entry["expected_status"] == "duplicate":
                assert any(
                    e["sha256"] == entry["sha256"] and e["expected_status"] != "rejected" for e in earlier
                )
            if entry["expected_status"] == "superseded":
                key = (entry["submitter"], entry["school_year"])
                assert any(
                    (e["submitter"], e["school_year"]) == key and e["expected_status"] == "loaded"
                    for e in later
                )


def _grid(path: Path, contract: Contract) -> list[list[str]]:
    """The file as rows of text, indexed like ``_source_row`` (index 0 is row 1)."""
    data = path.read_bytes()
    if contract.file.format == "excel":
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        sheet = book[contract.file.sheet] if isinstance(contract.file.sheet, str) else book.worksheets[0]
        return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    if contract.file.format == "json":
        return [[json.dumps(r, ensure_ascii=False)] for r in json.loads(data)["records"]]
    encoding = contract.file.encoding if contract.file.encoding != "auto" else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    delimiter = contract.file.delimiter if contract.file.delimiter != "auto" else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _cell(grid: list[list[str]], row: int, column: str, json_format: bool) -> str:
    if json_format:
        value = json.loads(grid[row - 1][0]).get(column, "")
        return value if isinstance(value, str) else json.dumps(value)
    header = next(r for r in grid if column in r)
    assert grid.index(header) < row - 1, "the defect row is below the header"
    cells = grid[row - 1]
    index = header.index(column)
    return cells[index] if index < len(cells) else ""


def test_defect_rows_hold_the_bad_values(
    samples: Path, manifest: dict, contracts: dict[str, Contract]
) -> None:
    grids: dict[str, list[list[str]]] = {}
    for defect in manifest["defects"]:
        contract = contracts[defect["file"].split("/")[1]]
        grid = grids.setdefault(defect["file"], _grid(samples / defect["file"], contract))
        assert any(cell.strip() for cell in grid[defect["source_row"] - 1]), defect
        if defect["reason_code"] == "duplicate_key":
            assert defect["column"] == ",".join(contract.natural_key)
            assert grid[defect["source_row"] - 1] in grid[: defect["source_row"] - 1], (
                "repeats an earlier row"
            )
            continue
        written = _cell(grid, defect["source_row"], defect["source_column"], contract.file.format == "json")
        assert written == defect["value"], defect
    too_long = [d for d in manifest["defects"] if d["reason_code"] == "value_too_long"]
    assert too_long and all(len(d["value"]) > 4000 for d in too_long)
    assert all(d["value"] == "" for d in manifest["defects"] if d["reason_code"] == "missing_value")


# --- the reference directory ------------------------------------------------------------------------


def test_directory_sizes_and_identifiers() -> None:
    districts = read_directory(REFERENCE)
    assert Counter(d.state for d in districts) == STATE_SIZES
    assert len({d.district_id for d in districts}) == len(districts)
    for d in districts:
        assert d.district_id == f"{d.state}-{d.state_code}"
        if d.state == "CO":
            assert not d.is_synthetic and re.fullmatch(r"\d{4}", d.state_code)
        else:
            assert d.is_synthetic and re.fullmatch(FIPS[d.state] + r"\d{5}", d.nces_lea_id)
    ky_codes = [d.state_code for d in districts if d.state == "KY"]
    assert all(re.fullmatch(r"\d{3}", c) for c in ky_codes)
    nces = [d.nces_lea_id for d in districts if d.nces_lea_id]
    assert len(set(nces)) == len(nces)


def test_colorado_samples_name_every_real_cde_district(real_co_file: Path) -> None:
    book = openpyxl.load_workbook(real_co_file, read_only=True)
    real = {
        str(row[3]).strip()
        for row in book.worksheets[0].iter_rows(min_row=7, values_only=True)
        if row[3] and str(row[3]).strip() and row[1] != "State Total"
    }
    ours = {d.state_code for d in read_directory(REFERENCE) if d.state == "CO"}
    assert len(real) == 185
    assert real <= ours


def test_aliases_point_at_one_district_each() -> None:
    districts = {d.district_id: d for d in read_directory(REFERENCE)}
    aliases = [(i, a) for i, a in read_aliases(REFERENCE) if i in districts]
    owners = defaultdict(set)
    for district_id, alias in aliases:
        owners[(districts[district_id].state, normalize_name(alias))].add(district_id)
    for d in districts.values():
        owners[(d.state, normalize_name(d.name))].add(d.district_id)
    ambiguous = {k: v for k, v in owners.items() if len(v) > 1}
    assert not ambiguous
    canon = {a for i, a in aliases if i == "CO-1140"}
    assert {"Canon City RE-1", "Cañon City Schools"} <= canon
    assert {d.state for i, _ in aliases for d in [districts[i]]} == {"CO", "NH", "UT"}


def test_synthetic_directory_rebuilds_identically(tmp_path: Path) -> None:
    build(tmp_path)
    for name in ("sample_districts.csv", "sample_district_aliases.csv"):
        assert (tmp_path / name).read_bytes() == (REFERENCE / name).read_bytes(), name


# --- what the files say about districts ---------------------------------------------------------------


def test_outcome_feeds_cover_every_district(samples: Path, manifest: dict) -> None:
    directory = defaultdict(set)
    for d in read_directory(REFERENCE):
        directory[d.state].add(d.state_code)
    for entry in manifest["files"]:
        if entry["source"] != "state_outcomes" or entry["expected_status"] != "loaded":
            continue
        data = (samples / entry["path"]).read_bytes()
        text = data.decode("utf-8-sig") if entry["encoding"] != "cp1252" else data.decode("cp1252")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        codes = {r["District Code"] for r in rows if r["District Name"] != "State Total"}
        totals = [r for r in rows if r["District Name"] == "State Total"]
        unknown = {
            d["source_row"]
            for d in manifest["defects"]
            if d["file"] == entry["path"] and d["reason_code"] == "unknown_district"
        }
        assert len(totals) == 1
        assert codes >= directory[entry["submitter"]]
        assert len(codes - directory[entry["submitter"]]) == len(unknown)


def test_names_in_name_scheme_files_are_known_spellings(
    samples: Path, manifest: dict, contracts: dict[str, Contract]
) -> None:
    districts = read_directory(REFERENCE)
    known = {d.name for d in districts} | {a for _, a in read_aliases(REFERENCE)}
    unknown_rows = {
        (d["file"], d["source_row"]) for d in manifest["defects"] if d["reason_code"] == "unknown_district"
    }
    checked = 0
    for entry in manifest["files"]:
        contract = contracts[entry["source"]]
        if contract.district.scheme != "name" or entry["expected_status"] not in ("loaded", "superseded"):
            continue
        grid = _grid(samples / entry["path"], contract)
        columns = (
            contract.district.column
            if isinstance(contract.district.column, list)
            else [contract.district.column]
        )
        if contract.file.format == "json":
            names = [(i + 1, json.loads(r[0]).get("resident_district")) for i, r in enumerate(grid)]
        else:
            header_at = next(i for i, r in enumerate(grid) if set(columns) & set(r))
            col = next(grid[header_at].index(c) for c in columns if c in grid[header_at])
            names = [(i + 1, r[col]) for i, r in enumerate(grid) if i > header_at and len(r) > col and r[col]]
        for row, name in names:
            if (entry["path"], row) not in unknown_rows:
                assert name in known, (entry["path"], row, name)
                checked += 1
    assert checked > 1000


def test_unknown_districts_are_not_in_the_directory(samples: Path, manifest: dict) -> None:
    districts = read_directory(REFERENCE)
    values = {d.state_code for d in districts} | {d.nces_lea_id for d in districts}
    names = {normalize_name(d.name) for d in districts} | {
        normalize_name(a) for _, a in read_aliases(REFERENCE)
    }
    for defect in manifest["defects"]:
        if defect["reason_code"] != "unknown_district":
            continue
        raw = (samples / defect["file"]).read_bytes().decode("utf-8", errors="replace")
        assert defect["column"] == "district_id"
        candidates = re.findall(r"\b(3099999|0007)\b|Lakes Region Regional School District", raw)
        assert candidates, defect
    assert "3099999" not in values and "0007" not in {d.state_code for d in districts if d.state == "CO"}
    assert normalize_name("Lakes Region Regional School District") not in names
