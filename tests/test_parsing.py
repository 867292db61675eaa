"""Parsers for the values districts write: exact outcomes, and properties over arbitrary input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from innovation_pipeline.contracts import FieldSpec, Suppression
from innovation_pipeline.parsing import (
    ERROR_MESSAGES,
    normalize_district_code,
    normalize_name,
    parse_numeric,
    parse_school_year,
    parse_value,
)

COUNT = FieldSpec(name="n", source="N", type="integer", min=0, suppressible=True)
RATE = FieldSpec(name="r", source="R", type="rate", suppressible=True)
MONEY = FieldSpec(name="m", source="M", type="money", min=0)
SUPPRESSION = Suppression()


@pytest.mark.parametrize(
    ("raw", "value", "marker", "lower", "upper", "error"),
    [
        ("12", 12, None, None, None, None),
        ("1,204", 1204, None, None, None, None),
        (" 0042 ", 42, None, None, None, None),
        ("<10", None, "<10", 0, 9, None),
        ("n<16", None, "n<16", 0, 15, None),
        ("<=5", None, "<=5", 0, 5, None),
        ("15 or less", None, "15 or less", 0, 15, None),
        ("GE50", None, "GE50", 50, None, None),
        (">20", None, ">20", 21, None, None),
        ("80-84", None, "80-84", 80, 84, None),
        ("*", None, "*", None, None, None),
        ("--", None, "--", None, None, None),
        ("PS", None, "PS", None, None, None),
        ("12.5", None, None, None, None, "not_whole_number"),
        ("-3", None, None, None, None, "out_of_range"),
        ("1O", None, None, None, None, "not_a_number"),
        ("", None, None, None, None, "missing_value"),
    ],
)
def test_counts_and_suppression_markers(raw, value, marker, lower, upper, error):
    got = parse_value(raw, COUNT, SUPPRESSION)
    assert got["error"] == error
    if error is None:
        assert got["value"] == value
        assert got["marker"] == marker
        assert got["suppressed"] is (marker is not None)
        assert got["lower"] == lower
        assert got["upper"] == upper


@pytest.mark.parametrize(
    ("raw", "value", "lower", "upper", "error"),
    [
        ("85%", 0.85, None, None, None),
        ("0.85", 0.85, None, None, None),
        ("85", 0.85, None, None, None),
        ("100%", 1.0, None, None, None),
        ("80-84", None, 0.80, 0.84, None),
        ("GE50", None, 0.50, 1, None),
        ("<5%", None, 0.0, 0.05, None),
        ("150%", None, None, None, "out_of_range"),
    ],
)
def test_rates_as_fractions(raw, value, lower, upper, error):
    got = parse_value(raw, RATE, SUPPRESSION)
    assert got["error"] == error
    if error is None:
        # Exact decimals: 0.85, not a float near it.
        for key, want in (("value", value), ("lower", lower), ("upper", upper)):
            assert got[key] == (None if want is None else Decimal(str(want)))


def test_rate_format_fraction_keeps_values_as_written():
    spec = FieldSpec(name="r", source="R", type="rate", format="fraction")
    assert parse_value("0.427", spec)["value"] == Decimal("0.427")
    assert parse_value("42.7", spec)["error"] == "out_of_range"


def test_money_and_markers_only_when_suppressible():
    assert parse_value("$12,500.00", MONEY)["value"] == 12500.0
    assert parse_value("*", MONEY)["error"] == "not_a_number"


@pytest.mark.parametrize(
    ("raw", "year", "error"),
    [
        ("2023-24", 2024, None),
        ("2023-2024", 2024, None),
        ("SY2024", 2024, None),
        ("SY 2023-24", 2024, None),
        ("2024", 2024, None),
        ("2024-06-30", 2024, None),
        ("6/30/2024", 2024, None),
        ("2023-09-01", 2024, None),
        ("1999-00", 2000, None),
        ("2023-25", None, "bad_school_year"),
        ("next year", None, "bad_school_year"),
        ("1900", None, "school_year_out_of_range"),
        ("2099-2100", None, "school_year_out_of_range"),
        ("", None, "missing_value"),
    ],
)
def test_school_years(raw, year, error):
    got = parse_school_year(raw)
    assert (got["value"], got["error"]) == (year, error)


def test_dates_and_categories():
    date = FieldSpec(name="d", source="D", type="date")
    assert parse_value("2024-06-30", date)["value"] == dt.date(2024, 6, 30)
    assert parse_value("6/30/2024", date)["value"] == dt.date(2024, 6, 30)
    assert parse_value("2024-06-30 00:00:00", date)["value"] == dt.date(2024, 6, 30)
    assert parse_value("June-ish", date)["error"] == "bad_date"
    cat = FieldSpec(name="c", source="C", type="category", allowed=["cultural_competency", "innovation"])
    assert parse_value("Cultural Competency", cat)["value"] == "cultural_competency"
    assert parse_value("cultural-competency ", cat)["value"] == "cultural_competency"
    assert parse_value("Grit", cat)["error"] == "not_allowed_value"


def test_district_codes_and_names():
    codes = normalize_district_code(pl.Series(["10", "0010", "'0020", "10.0", " 20 "]), "state_code", 4)
    assert codes.to_list() == ["0010", "0010", "0020", "0010", "0020"]
    nces = normalize_district_code(pl.Series(["801234", "0801234"]), "nces_lea_id", None)
    assert nces.to_list() == ["0801234", "0801234"]
    assert normalize_name("Cañon City Schools") == normalize_name("CANON CITY  schools ")
    assert normalize_name("Canon City RE-1") == "canon city re 1"


# --- properties: never an unhandled exception, always a value or a reason --------------------

messy_text = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\s*[<>]?=?\s*[0-9,]{0,7}(\.[0-9]{0,3})?\s*%?\s*", fullmatch=True),
    st.sampled_from(
        ["*", "--", "PS", "n<16", "15 or less", "GE50", "80-84", "N/A", "\x00", "1e309", "NaN", "inf"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(messy_text, min_size=1, max_size=20), spec=st.sampled_from([COUNT, RATE, MONEY]))
def test_numbers_always_value_marker_or_reason(raw, spec):
    frame = parse_numeric(pl.Series(raw, dtype=pl.Utf8), spec, SUPPRESSION).frame
    assert frame.height == len(raw)
    for row in frame.iter_rows(named=True):
        outcomes = [row["value"] is not None, bool(row["suppressed"]), row["error"] is not None]
        blank_optional = not spec.required
        assert sum(outcomes) == 1 or (blank_optional and sum(outcomes) == 0)
        if row["error"]:
            assert row["error"] in ERROR_MESSAGES
        if row["value"] is not None and spec.type == "rate":
            assert 0 <= row["value"] <= 1


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(st.text(max_size=25), st.from_regex(r"(SY ?)?[0-9]{4}([-/][0-9]{2,4})?", fullmatch=True))
)
def test_school_years_always_year_or_reason(raw):
    got = parse_school_year(raw)
    assert (got["value"] is None) != (got["error"] is None)
    if got["value"] is not None:
        assert 2000 <= got["value"] <= 2035


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.one_of(st.none(), st.text(max_size=15)), min_size=1, max_size=10),
    scheme=st.sampled_from(["state_code", "nces_lea_id", "name"]),
)
def test_district_keys_never_raise(raw, scheme):
    keys = normalize_district_code(
        pl.Series(raw, dtype=pl.Utf8), scheme, 4 if scheme == "state_code" else None
    )
    assert len(keys) == len(raw)
    for value, key in zip(raw, keys.to_list(), strict=True):
        if value is None:
            assert key is None


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 64, b"y" * 65, bytes(range(256))])
def test_pseudonyms_are_hmac_sha256_of_the_canonical_identifier(key):
    import hashlib
    import hmac

    from innovation_pipeline.privacy import pseudonymize

    values = ["S1000001", " s1000001 ", None, "", "  ", "ß9", "é" * 100]
    expected = [
        hmac.new(key, v.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()
        if v is not None and v.strip()
        else None
        for v in values
    ]
    assert pseudonymize(values, key) == expected


def test_decimal_text_drops_trailing_zeros_once_per_distinct_value() -> None:
    """Repeated values (a credits column) take the per-distinct path; it must give each row what
    the per-row path gives, nulls kept."""
    from decimal import Decimal

    import polars as pl

    from innovation_pipeline.parsing import decimal_text

    few = [Decimal("1.50"), None, Decimal("12.00"), Decimal("0.25"), Decimal("-3.10")]
    repeated = pl.Series("credits", few * 40, dtype=pl.Decimal(20, 8))
    assert decimal_text(repeated).to_list() == ["1.5", None, "12", "0.25", "-3.1"] * 40
    distinct = pl.Series("credits", few, dtype=pl.Decimal(20, 8))
    assert decimal_text(distinct).to_list() == ["1.5", None, "12", "0.25", "-3.1"]
