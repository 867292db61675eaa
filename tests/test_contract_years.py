"""Column names that carry the year: one contract for every year of the EDFacts graduation file.

The real SY2013-14 file names its columns ``ALL_RATE_1314`` ...; the same contract loads a copy
renamed to SY2014-15 with ``_1415`` columns, and rejects a file whose columns name another year
than its name. Rates land as exact fractions and bands (``GE50``, ``90-94``, ``LE20``) as bounds
within 0..1."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from contract_helpers import use_real_directory, write_contract
from real_file_contracts import EDFACTS_CONTRACT as CONTRACT
from real_file_contracts import FIPS

from innovation_pipeline.landing import FileRejected, land_file

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
EDFACTS = SHARED_REAL / "us_edfacts_acgr_school_sy2013-14.csv"
CCD = SHARED_REAL / "nces_ccd_lea_directory_2024-25_7states.csv"


@pytest.fixture(scope="module")
def setup(isolated_warehouse_url, tmp_path_factory):
    known = use_real_directory(isolated_warehouse_url, CCD)
    contract = write_contract(tmp_path_factory.mktemp("contracts"), CONTRACT)
    return known, contract


@pytest.fixture()
def db(isolated_warehouse_url):
    with psycopg.connect(isolated_warehouse_url, autocommit=True) as conn:
        yield conn


def file_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["FIPST"] in FIPS]


def renamed_copy(folder: Path, name: str, year: str, rows: int | None = None) -> Path:
    """The real file with its columns renamed to another year (``_1314`` -> ``_1415``)."""
    text = EDFACTS.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    if rows is not None:
        rest = "\n".join(rest.split("\n")[:rows]) + "\n"
    out = folder / name
    out.write_text(header.replace("_1314", f"_{year}") + "\n" + rest, encoding="utf-8")
    return out


def expected(rows: list[dict], known: dict[str, str], suffix: str) -> dict:
    landed = [r for r in rows if r["LEAID"] in known]
    rates = [r[f"ALL_RATE_{suffix}"] for r in landed]
    return {
        "received": len(rows),
        "loaded": len(landed),
        "cohort": sum(int(r[f"ALL_COHORT_{suffix}"]) for r in landed if r[f"ALL_COHORT_{suffix}"].isdigit()),
        "rate_sum": sum((Decimal(v) / 100 for v in rates if v.isdigit()), Decimal(0)),
        "ge50": sum(1 for v in rates if v == "GE50"),
        "ps": sum(1 for v in rates if v == "PS"),
        "le20": sum(1 for v in rates if v == "LE20"),
        "band_9094": sum(1 for v in rates if v == "90-94"),
    }


def landed(db, sub_id: int) -> dict:
    row = db.execute(
        """
        select count(*), sum(all_cohort), sum(all_rate),
               count(*) filter (where all_rate__marker = 'GE50' and all_rate__lower = 0.5 and all_rate__upper = 1),
               count(*) filter (where all_rate__marker = 'PS' and all_rate__lower is null and all_rate__suppressed),
               count(*) filter (where all_rate__marker = 'LE20' and all_rate__lower = 0 and all_rate__upper = 0.2),
               count(*) filter (where all_rate__marker = '90-94' and all_rate__lower = 0.9 and all_rate__upper = 0.94),
               max(all_rate__upper), max(all_rate)
        from raw.us_edfacts_acgr where _submission_id = %s
        """,
        (sub_id,),
    ).fetchone()
    return dict(
        zip(
            ["loaded", "cohort", "rate_sum", "ge50", "ps", "le20", "band_9094", "max_upper", "max_rate"],
            row,
            strict=True,
        )
    )


def test_real_edfacts_sy2013_14(db, setup):
    known, contract = setup
    result = land_file(contract, EDFACTS)
    want = expected(file_rows(EDFACTS), known, "1314")
    assert result.status == "loaded" and result.school_year == 2014
    assert result.rows_received == want["received"] == 2061
    assert (result.rows_loaded, result.rows_quarantined) == (
        want["loaded"],
        want["received"] - want["loaded"],
    )
    got = landed(db, result.submission_id)
    for key in ("loaded", "cohort", "rate_sum", "ge50", "ps", "le20", "band_9094"):
        assert got[key] == want[key], key
    assert got["max_upper"] == 1 and got["max_rate"] <= 1
    # Rates are exact: 94 in the file is 0.94 in the table, as text and as a number.
    school = db.execute(
        "select all_rate::text from raw.us_edfacts_acgr where _submission_id = %s and all_rate is not null"
        " order by _source_row limit 1",
        (result.submission_id,),
    ).fetchone()[0]
    assert len(school) <= 4 and Decimal(school) * 100 == int(Decimal(school) * 100)


def test_the_same_contract_loads_the_next_year_unchanged(db, setup, tmp_path):
    known, contract = setup
    path = renamed_copy(tmp_path, "us_edfacts_acgr_school_sy2014-15.csv", "1415")
    result = land_file(contract, path)
    want = expected(file_rows(EDFACTS), known, "1314")  # same cells, other header
    assert result.status == "loaded" and result.school_year == 2015
    assert (result.rows_received, result.rows_loaded) == (want["received"], want["loaded"])
    got = landed(db, result.submission_id)
    assert (got["cohort"], got["rate_sum"], got["ge50"]) == (want["cohort"], want["rate_sum"], want["ge50"])


def test_columns_for_another_year_than_the_file_name_are_rejected(setup, tmp_path):
    _, contract = setup
    path = renamed_copy(tmp_path, "us_edfacts_acgr_school_sy2012-13.csv", "1415", rows=100)
    with pytest.raises(FileRejected, match=r"'ALL_COHORT_1415' is for 2014-15 but the file is for 2012-13"):
        land_file(contract, path)
