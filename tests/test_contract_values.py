"""Values land exactly as written, bands with bounds in the field's unit, unknown markers named.

A realistic state file (Colorado districts) goes through the loader into PostgreSQL; every
expected figure is the file's own text read with ``Decimal``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from contract_helpers import write_contract

from innovation_pipeline.landing import land_file

CODES = "0010 0020 0030 0040 0050 0060 0070 0100 0110 0120 0123 0130 0140 0170 0180 0190 0220 0230".split()

CONTRACT = {
    "source": "zz_exact_values",
    "title": "Exact values",
    "state": "CO",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "a district's figures",
    "submitter": "state",
    "due": {"month": 10, "day": 31},
    "file": {"pattern": r"^exact_(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
    "district": {"scheme": "state_code", "column": "District Code", "width": 4},
    "fields": [
        {"name": "students", "source": "Students", "type": "integer", "min": 0, "suppressible": True},
        {"name": "pct_rate", "source": "Percent Rate", "type": "rate", "suppressible": True},
        {"name": "frac_rate", "source": "Fraction Rate", "type": "rate", "required": False},
        {"name": "grant_amount", "source": "Grant", "type": "money", "required": False},
    ],
    "natural_key": ["district_id"],
}

# (students, percent-style rate, fraction-style rate, grant)
ROWS = [
    ("1,204", "84.2%", "0.842", "$51,234.50"),
    ("<10", "12.5", "0.25", ""),
    ("< 16", "1", "1", ""),
    ("n<16", "GE50", "0.1", ""),
    ("15 or less", "GT90", "", ""),
    ("16-50", "LT50", "", ""),
    ("51 or greater", "LE20", "", ""),
    ("(-)", "80-84", "", ""),
    ("N/A", "<= 2%", "", ""),
    ("- -", ">= 98%", "", ""),
    ("PS", "99.9", "", ""),
    ("†", "50", "", ""),
    ("1,204", "N.R.", "", ""),
    ("7", "50", "", "$51,234.567"),
]
# Bounds in the field's unit, from the marker text: counts in students, rates as fractions.
COUNT_BOUNDS = {
    "<10": (0, 9),
    "< 16": (0, 15),
    "n<16": (0, 15),
    "15 or less": (0, 15),
    "16-50": (16, 50),
    "51 or greater": (51, None),
}
RATE_BOUNDS = {
    "GE50": ("0.5", "1"),
    "GT90": ("0.9", "1"),
    "LT50": ("0", "0.5"),
    "LE20": ("0", "0.2"),
    "80-84": ("0.8", "0.84"),
    "<= 2%": ("0", "0.02"),
    ">= 98%": ("0.98", "1"),
}


@pytest.fixture(scope="module")
def landed(warehouse_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exact")
    contract = write_contract(folder, CONTRACT)
    lines = ["District Code,Students,Percent Rate,Fraction Rate,Grant"]
    lines += [",".join([code, *(f'"{v}"' for v in row)]) for code, row in zip(CODES, ROWS, strict=False)]
    path = folder / "exact_2023-24.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return land_file(contract, path)


def by_row(db, sub_id: int, columns: str) -> dict[int, tuple]:
    rows = db.execute(
        f"select _source_row, {columns} from raw.zz_exact_values where _submission_id = %s", (sub_id,)
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_numbers_land_exactly_as_written(db, landed):
    got = by_row(db, landed.submission_id, "pct_rate::text, frac_rate::text, grant_amount::text, students")
    first = got[2]
    # 84.2% is 0.842 exactly; the fraction column keeps 0.842; the grant keeps its cents.
    assert first == ("0.842", "0.842", "51234.50", 1204)
    # A percent column ("84.2%", "12.5", "99.9"): its "1" is 1%, never 100%.
    assert got[3][0] == str(Decimal("12.5") / 100)
    assert got[4][:2] == ("0.01", "1")
    assert got[12][0] == "0.999"
    assert 15 not in got  # quarantined: nothing half-loaded


def test_money_with_fractions_of_a_cent_is_quarantined_not_rounded(db, landed):
    problems = db.execute(
        "select source_row, reason_code, message from audit.quarantine where submission_id = %s"
        " order by source_row, reason_code",
        (landed.submission_id,),
    ).fetchall()
    money = [p for p in problems if p[1] == "money_not_cents"]
    assert money == [(15, "money_not_cents", money[0][2])]
    assert "'$51,234.567'" in money[0][2]


def test_bands_land_with_bounds_in_the_fields_unit(db, landed):
    got = by_row(
        db,
        landed.submission_id,
        "students__marker, students__lower, students__upper, pct_rate__marker,"
        " pct_rate__lower::text, pct_rate__upper::text, students__suppressed, pct_rate__suppressed",
    )
    counts = {r[0]: (r[1], r[2]) for r in got.values() if r[0] in COUNT_BOUNDS}
    assert counts == COUNT_BOUNDS
    rates = {r[3]: (r[4], r[5]) for r in got.values() if r[3] in RATE_BOUNDS}
    assert rates == RATE_BOUNDS
    assert all(Decimal(hi) <= 1 for _, hi in rates.values())
    markers = {r[0] for r in got.values() if r[6]}
    assert {"(-)", "N/A", "- -", "PS"} <= markers
    for marker in ("(-)", "N/A", "- -", "PS"):
        row = next(r for r in got.values() if r[0] == marker)
        assert (row[1], row[2]) == (None, None)


def test_an_unknown_marker_is_named_not_called_not_a_number(db, landed):
    problems = db.execute(
        "select source_row, column_name, reason_code, message from audit.quarantine"
        " where submission_id = %s and reason_code = 'unknown_marker' order by source_row",
        (landed.submission_id,),
    ).fetchall()
    assert [(p[0], p[1]) for p in problems] == [(13, "Students"), (14, "Percent Rate")]
    assert "'†'" in problems[0][3] and "suppression.markers" in problems[0][3]
    assert "'N.R.'" in problems[1][3]
    assert landed.rows_received == len(ROWS)
    assert landed.rows_received == landed.rows_loaded + landed.rows_quarantined
    assert landed.rows_quarantined == 3


def test_a_rate_columns_scale_is_decided_once_per_file_not_per_batch(db, tmp_path):
    """Batches of two rows: the second batch ("1", "0.5") alone would read as fractions, but the
    column is percent (the first batch says so), so they are 1% and 0.5%."""
    data = {
        **CONTRACT,
        "source": "zz_rate_scale",
        "file": {**CONTRACT["file"], "pattern": r"^scale_(?P<school_year>\d{4}-\d{2})\.csv$"},
    }
    data["fields"] = [{"name": "pct_rate", "source": "Percent Rate", "type": "rate"}]
    contract = write_contract(tmp_path, data)
    values = ["84.2", "12.5", "1", "0.5"]
    path = tmp_path / "scale_2023-24.csv"
    path.write_text(
        "District Code,Percent Rate\n" + "".join(f"{c},{v}\n" for c, v in zip(CODES, values, strict=False)),
        encoding="utf-8",
    )
    result = land_file(contract, path, batch_rows=2)
    assert (result.rows_loaded, result.rows_quarantined) == (4, 0)
    got = db.execute(
        "select pct_rate::text from raw.zz_rate_scale where _submission_id = %s order by _source_row",
        (result.submission_id,),
    ).fetchall()
    assert [r[0] for r in got] == [str(Decimal(v) / 100) for v in values]
