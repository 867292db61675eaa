"""Property tests (issue 17): hostile cells and files, generated, through the real loader and
PostgreSQL. Whatever the bytes, the loader never raises anything but a recorded rejection, and
never loses a row: every data row written is loaded, quarantined or counted as skipped."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest
from bad_input_helpers import HEADER, _contract, add_zz_district
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from innovation_pipeline.landing import FileRejected, file_sha256, land_file

COLUMNS = HEADER.split(",")
_counter = itertools.count()

# Cells a careless or hostile sender writes: numbers at and beyond every limit, non-finite words,
# dates PostgreSQL refuses, control characters, quotes, delimiters and line breaks, huge text.
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "Infinity",
            "-Infinity",
            "NaN",
            "nan",
            "inf",
            "1e400",
            "-0",
            "1e-400",
            "99999999999999999999",
            "9223372036854775808",
            "0x10",
            "1_000",
            "١٢",
            "½",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            "2024-02-30",
            "\x00",
            "a\x00b",
            '"',
            '""',
            "'",
            ",",
            "\n",
            "\r",
            "\r\n",
            "\t",
            "\ufeff",
            "\u2028",
            "\ufffd",
            "=1+2",
            "-2",
            "5",
            "8",
            "12",
            "001",
            "innovation",
            "Robert'); drop table x;--",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.just("x" * 20_000),
)
ROW = st.lists(HOSTILE, min_size=len(COLUMNS), max_size=len(COLUMNS) + 2)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _name(ext: str) -> str:
    n = next(_counter)
    return f"ZZ_001_{2000 + n % 30}-{(n % 30 + 1) % 100:02d}_p{n}.{ext}"


def _check(db, contract, path: Path, rows_written: int) -> None:
    """The outcome is recorded and every row is accounted for."""
    try:
        result = land_file(contract, path)
    except FileRejected as exc:
        status, code = db.execute(
            "select status, reason_code from audit.submissions where file_sha256 = %s and file_name = %s",
            (file_sha256(path), path.name),
        ).fetchone()
        assert (status, code) == ("rejected", exc.code)
        return
    if result.status == "duplicate":
        return
    assert result.rows_received == result.rows_loaded + result.rows_quarantined
    assert result.rows_received + result.rows_skipped == rows_written
    stored = db.execute(
        f"select count(*) from raw.{contract.raw_table} where _submission_id = %s", (result.submission_id,)
    ).fetchone()[0]
    assert stored == result.rows_loaded
    non_finite = db.execute(
        f"select count(*) from raw.{contract.raw_table} where _submission_id = %s"
        " and (ratio in ('NaN', 'Infinity', '-Infinity') or students_defended is null)",
        (result.submission_id,),
    ).fetchone()[0]
    assert non_finite == 0


@PROPERTY
@given(rows=st.lists(ROW, min_size=1, max_size=6))
def test_hostile_csv_cells_never_crash_the_loader_or_lose_a_row(db, contracts, tmp_path, rows):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    path = tmp_path / _name("csv")
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    _check(db, contracts["csv"], path, len(rows))


def _json_string(value: str) -> str:
    return json.dumps(value)


JSON_VALUE = st.one_of(
    HOSTILE.map(_json_string),
    st.sampled_from(
        [
            '"\\ud800"',
            '"\\udfff"',
            '"a\\u0000"',
            "Infinity",
            "NaN",
            "-Infinity",
            "1e400",
            "9" * 5000,
            "null",
            "true",
            "[]",
            "{}",
            "[[[[1]]]]",
            '{"a": {"b": 1}}',
            "-0.0",
            "1.5e308",
        ]
    ),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@PROPERTY
@given(
    records=st.lists(
        st.lists(JSON_VALUE, min_size=len(COLUMNS), max_size=len(COLUMNS)), min_size=1, max_size=6
    )
)
def test_hostile_json_values_never_crash_the_loader_or_lose_a_record(db, contracts, tmp_path, records):
    text = (
        "["
        + ", ".join(
            "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in zip(COLUMNS, rec, strict=True)) + "}"
            for rec in records
        )
        + "]"
    )
    path = tmp_path / _name("json")
    path.write_bytes(text.encode("utf-8"))
    _check(db, contracts["json"], path, len(records))


@PROPERTY
@given(data=st.binary(max_size=3000), header=st.booleans())
def test_arbitrary_bytes_after_a_header_never_crash_the_loader(db, contracts, tmp_path, data, header):
    path = tmp_path / _name("csv")
    path.write_bytes(((HEADER + "\r\n").encode() if header else b"") + data)
    try:
        result = land_file(contracts["csv"], path)
    except FileRejected:
        status = db.execute(
            "select status from audit.submissions where file_sha256 = %s and file_name = %s",
            (file_sha256(path), path.name),
        ).fetchone()
        assert status == ("rejected",)
        return
    assert result.rows_received == result.rows_loaded + result.rows_quarantined


@pytest.fixture(scope="module")
def contracts(warehouse_url: str, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("property_contracts")
    add_zz_district(warehouse_url)
    return {
        "csv": _contract(folder, "zz_prop_csv", "csv", "csv"),
        "json": _contract(folder, "zz_prop_json", "json", "json"),
    }
