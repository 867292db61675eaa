"""Vectorized parsers for the values districts write: numbers, rates, suppression markers,
school years, dates, categories and district identifiers.

Each parser takes a column of raw strings and returns typed columns plus an error code per row
(null when the value is fine). They work on whole batches (polars), so a large file is parsed in
bulk rather than cell by cell; the single-value helpers at the bottom wrap them for previews and
property-based tests.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import polars as pl

from innovation_pipeline.contracts import FieldSpec, Suppression

MAX_TEXT_LENGTH = 4000
_NUM = r"(\d+(?:\.\d+)?)"

# Suppression bands: each regex captures the bound(s) as written.
_BAND_LESS = rf"(?i)^(?:n\s*)?<\s*(=?)\s*{_NUM}\s*%?$"
_BAND_OR_LESS = rf"(?i)^{_NUM}\s*%?\s*or\s*(?:less|fewer|below)$"
_BAND_GE = rf"(?i)^(?:ge\s*|>=\s*|≥\s*|n\s*>=\s*){_NUM}\s*%?$"
_BAND_GT = rf"(?i)^(?:gt\s*|>\s*){_NUM}\s*%?$"
_BAND_RANGE = rf"^{_NUM}\s*%?\s*(?:-|–|to)\s*{_NUM}\s*%?$"

ERROR_MESSAGES = {
    "missing_value": "is blank but a value is required",
    "not_a_number": "is not a number",
    "not_whole_number": "is not a whole number",
    "out_of_range": "is outside the allowed range",
    "not_allowed_value": "is not one of the allowed values",
    "bad_date": "is not a date",
    "bad_school_year": "is not a school year",
    "school_year_out_of_range": "is not a plausible school year",
    "value_too_long": f"is longer than {MAX_TEXT_LENGTH} characters",
}


@dataclass(frozen=True)
class Parsed:
    """Typed columns for one field: ``value``, suppression columns, and ``error`` codes."""

    frame: pl.DataFrame

    @property
    def errors(self) -> pl.Series:
        return self.frame["error"]


def _clean(col: pl.Expr) -> pl.Expr:
    # NUL bytes cannot be stored in PostgreSQL text and never carry meaning in these files.
    return col.str.replace_all("\x00", "", literal=True).str.strip_chars()


def _is_blank(t: pl.Expr) -> pl.Expr:
    return t.is_null() | (t == "")


def _scale_rate(value: pl.Expr, has_pct: pl.Expr, fmt: str) -> pl.Expr:
    if fmt == "percent":
        return value / 100
    if fmt == "fraction":
        return pl.when(has_pct).then(value / 100).otherwise(value)
    return pl.when(has_pct | (value > 1)).then(value / 100).otherwise(value)


def parse_numeric(raw: pl.Series, spec: FieldSpec, suppression: Suppression) -> Parsed:
    """Parse numbers as written ("1,204", "85%", "$12,500.00", "0.85") and suppression markers.

    A marker loads as a null value with ``suppressed`` set and, where the marker implies them,
    ``lower``/``upper`` bounds. Rates come out as fractions 0..1.
    """
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)})
    t = _clean(pl.col("raw"))
    is_rate = spec.type == "rate"
    is_int = spec.type == "integer"
    markers = [m.strip().upper() for m in suppression.markers] if spec.suppressible else []
    bands = spec.suppressible and suppression.bands

    df = df.with_columns(t.alias("t"))
    df = df.with_columns(
        pl.col("t").str.replace_all(r"[,\s$]", "").alias("c"),
    ).with_columns(
        pl.col("c").str.ends_with("%").alias("has_pct"),
        pl.col("c").str.strip_suffix("%").cast(pl.Float64, strict=False).alias("num"),
    )
    blank = _is_blank(pl.col("t"))
    is_marker = pl.col("t").str.to_uppercase().is_in(markers) if markers else pl.lit(False)

    def bound(pattern: str, group: int) -> pl.Expr:
        return pl.col("t").str.extract(pattern, group).cast(pl.Float64, strict=False)

    def as_unit(value: pl.Expr) -> pl.Expr:
        # A band on a rate is written in percent ("80-84", "<5%"): bring it to a fraction.
        if not is_rate:
            return value
        has_pct = pl.col("t").str.contains("%")
        return _scale_rate(value, has_pct, spec.format if spec.format != "fraction" else "auto")

    if bands:
        less_n, less_eq = bound(_BAND_LESS, 2), pl.col("t").str.extract(_BAND_LESS, 1) == "="
        step = 1.0 if is_int else 0.0
        lower = (
            pl.when(less_n.is_not_null() | bound(_BAND_OR_LESS, 1).is_not_null())
            .then(pl.lit(0.0))
            .when(bound(_BAND_GE, 1).is_not_null())
            .then(as_unit(bound(_BAND_GE, 1)))
            .when(bound(_BAND_GT, 1).is_not_null())
            .then(as_unit(bound(_BAND_GT, 1) + step))
            .when(bound(_BAND_RANGE, 1).is_not_null())
            .then(as_unit(bound(_BAND_RANGE, 1)))
        )
        upper = (
            pl.when(less_n.is_not_null())
            .then(as_unit(pl.when(less_eq).then(less_n).otherwise(less_n - step)))
            .when(bound(_BAND_OR_LESS, 1).is_not_null())
            .then(as_unit(bound(_BAND_OR_LESS, 1)))
            .when(bound(_BAND_RANGE, 1).is_not_null())
            .then(as_unit(bound(_BAND_RANGE, 2)))
        )
        is_band = (
            less_n.is_not_null()
            | bound(_BAND_OR_LESS, 1).is_not_null()
            | bound(_BAND_GE, 1).is_not_null()
            | bound(_BAND_GT, 1).is_not_null()
            | bound(_BAND_RANGE, 1).is_not_null()
        )
    else:
        lower = upper = pl.lit(None, dtype=pl.Float64)
        is_band = pl.lit(False)

    df = df.with_columns(
        (~blank & (is_marker | is_band)).alias("suppressed"),
        lower.cast(pl.Float64).alias("lower"),
        upper.cast(pl.Float64).alias("upper"),
    )
    value = _scale_rate(pl.col("num"), pl.col("has_pct"), spec.format) if is_rate else pl.col("num")
    df = df.with_columns(
        pl.when(pl.col("suppressed") | blank).then(None).otherwise(value).alias("value"),
    )
    lo = spec.min if spec.min is not None else (0.0 if is_rate else None)
    hi = spec.max if spec.max is not None else (1.0 if is_rate else None)
    out_of_range = pl.lit(False)
    if lo is not None:
        out_of_range = out_of_range | (pl.col("value") < lo)
    if hi is not None:
        out_of_range = out_of_range | (pl.col("value") > hi)
    not_number = ~blank & ~pl.col("suppressed") & pl.col("num").is_null()
    not_whole = (pl.col("value") != pl.col("value").floor()) if is_int else pl.lit(False)
    error = (
        pl.when(blank & pl.lit(spec.required))
        .then(pl.lit("missing_value"))
        .when(not_number)
        .then(pl.lit("not_a_number"))
        .when(not_whole.fill_null(False))
        .then(pl.lit("not_whole_number"))
        .when(out_of_range.fill_null(False))
        .then(pl.lit("out_of_range"))
    )
    df = df.with_columns(
        error.alias("error"),
        pl.when(pl.col("suppressed")).then(pl.col("t")).alias("marker"),
    )
    # A value with a problem is not a value: it goes to quarantine, never half-loaded.
    df = df.with_columns(pl.when(pl.col("error").is_null()).then(pl.col("value")).alias("value"))
    return Parsed(df.select("value", "suppressed", "marker", "lower", "upper", "error"))


def normalize_category(raw: pl.Expr) -> pl.Expr:
    """'Cultural Competency' and 'cultural-competency' both become 'cultural_competency'."""
    return raw.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")


def parse_text(raw: pl.Series, spec: FieldSpec) -> Parsed:
    """Text and categories: trimmed; categories normalized to snake_case and checked."""
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)}).with_columns(_clean(pl.col("raw")).alias("t"))
    blank = _is_blank(pl.col("t"))
    value = pl.when(blank).then(None).otherwise(pl.col("t"))
    bad_value = pl.lit(False)
    if spec.type == "category":
        allowed = [normalize_category_value(a) for a in spec.allowed or []]
        value = normalize_category(value)
        bad_value = ~blank & ~value.is_in(allowed)
    error = (
        pl.when(blank & pl.lit(spec.required))
        .then(pl.lit("missing_value"))
        .when(pl.col("t").str.len_chars() > MAX_TEXT_LENGTH)
        .then(pl.lit("value_too_long"))
        .when(bad_value)
        .then(pl.lit("not_allowed_value"))
    )
    return Parsed(df.select(value.alias("value"), error.alias("error")))


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%d-%b-%Y", "%B %d, %Y")


def _to_date(t: pl.Expr, preferred: str | None) -> pl.Expr:
    formats = ((preferred,) if preferred else ()) + _DATE_FORMATS
    # Excel cells arrive as ISO timestamps ("2024-06-30 00:00:00"): keep the date part.
    iso = t.str.extract(r"^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$", 1)
    attempts = [iso.str.to_date("%Y-%m-%d", strict=False)]
    attempts += [t.str.to_date(f, strict=False) for f in formats]
    return pl.coalesce(attempts)


def parse_date(raw: pl.Series, spec: FieldSpec) -> Parsed:
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)}).with_columns(_clean(pl.col("raw")).alias("t"))
    blank = _is_blank(pl.col("t"))
    df = df.with_columns(_to_date(pl.col("t"), spec.date_format).alias("value"))
    error = (
        pl.when(blank & pl.lit(spec.required))
        .then(pl.lit("missing_value"))
        .when(~blank & pl.col("value").is_null())
        .then(pl.lit("bad_date"))
    )
    return Parsed(df.select("value", error.alias("error")))


_TRUE = {"y", "yes", "true", "t", "1", "x"}
_FALSE = {"n", "no", "false", "f", "0"}


def parse_boolean(raw: pl.Series, spec: FieldSpec) -> Parsed:
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)}).with_columns(
        _clean(pl.col("raw")).str.to_lowercase().alias("t")
    )
    blank = _is_blank(pl.col("t"))
    value = (
        pl.when(pl.col("t").is_in(list(_TRUE))).then(True).when(pl.col("t").is_in(list(_FALSE))).then(False)
    )
    error = (
        pl.when(blank & pl.lit(spec.required))
        .then(pl.lit("missing_value"))
        .when(~blank & value.is_null())
        .then(pl.lit("not_allowed_value"))
    )
    return Parsed(df.select(value.alias("value"), error.alias("error")))


_SY_RANGE = r"(?i)^(?:sy\s*)?(\d{4})\s*(?:-|–|/|to)\s*(\d{2}|\d{4})$"
_SY_SINGLE = r"(?i)^(?:sy\s*|fy\s*)?(\d{4})$"


def parse_school_years(raw: pl.Series, min_year: int = 2000, max_year: int = 2035) -> Parsed:
    """School years as written ('2023-24', '2023-2024', 'SY2024', a date) to the ending year.

    A date means the school year that contains it (July to June).
    """
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)}).with_columns(_clean(pl.col("raw")).alias("t"))
    start = pl.col("t").str.extract(_SY_RANGE, 1).cast(pl.Int32, strict=False)
    end_text = pl.col("t").str.extract(_SY_RANGE, 2)
    end_full = (
        pl.when(end_text.str.len_chars() == 2)
        .then((start // 100) * 100 + end_text.cast(pl.Int32, strict=False))
        .otherwise(end_text.cast(pl.Int32, strict=False))
    )
    # '1999-00' crosses a century.
    end_full = pl.when(end_full < start).then(end_full + 100).otherwise(end_full)
    single = pl.col("t").str.extract(_SY_SINGLE, 1).cast(pl.Int32, strict=False)
    date = _to_date(pl.col("t"), None)
    from_date = pl.when(date.dt.month() >= 7).then(date.dt.year() + 1).otherwise(date.dt.year())
    df = df.with_columns(
        pl.when(start.is_not_null())
        .then(pl.when(end_full == start + 1).then(end_full))
        .when(single.is_not_null())
        .then(single)
        .otherwise(from_date.cast(pl.Int32))
        .alias("value")
    )
    blank = _is_blank(pl.col("t"))
    error = (
        pl.when(blank)
        .then(pl.lit("missing_value"))
        .when(pl.col("value").is_null())
        .then(pl.lit("bad_school_year"))
        .when((pl.col("value") < min_year) | (pl.col("value") > max_year))
        .then(pl.lit("school_year_out_of_range"))
    )
    df = df.with_columns(error.alias("error"))
    return Parsed(
        df.select(
            pl.when(pl.col("error").is_null()).then(pl.col("value")).alias("value"),
            "error",
        )
    )


def normalize_district_code(raw: pl.Series, scheme: str, width: int | None) -> pl.Series:
    """District codes as the crosswalk keys them: digits zero-padded, names folded."""
    s = pl.DataFrame({"r": raw.cast(pl.Utf8)}).select(_clean(pl.col("r")).str.strip_prefix("'"))["r"]
    if scheme == "name":
        uniques = s.unique().to_list()
        mapping = {u: normalize_name(u) for u in uniques if u is not None}
        return s.replace_strict(mapping, default=None, return_dtype=pl.Utf8)
    digits = s.str.replace(r"\.0$", "")  # Excel turns 0010 into 10.0
    pad = width or (7 if scheme == "nces_lea_id" else None)
    if pad:
        digits = pl.select(
            pl.when(pl.lit(digits).str.contains(r"^\d+$"))
            .then(pl.lit(digits).str.zfill(pad))
            .otherwise(pl.lit(digits))
        ).to_series()
    return digits.str.to_uppercase()


_NAME_NOISE = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=1 << 16)
def normalize_name(name: str) -> str:
    """Fold a district name for matching: accents, case, punctuation and spacing removed.

    Cached: a file names the same few hundred districts in every batch."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return _NAME_NOISE.sub(" ", folded).strip()


# Single-value helpers: previews, messages and property-based tests use the same code as batches.


def parse_value(raw: str | None, spec: FieldSpec, suppression: Suppression | None = None) -> dict:
    """Parse one cell the way a batch would; returns value, error and suppression columns."""
    series = pl.Series([raw], dtype=pl.Utf8)
    if spec.type in {"integer", "number", "rate", "money"}:
        parsed = parse_numeric(series, spec, suppression or Suppression())
    elif spec.type == "date":
        parsed = parse_date(series, spec)
    elif spec.type == "boolean":
        parsed = parse_boolean(series, spec)
    else:
        parsed = parse_text(series, spec)
    return parsed.frame.row(0, named=True)


def parse_school_year(raw: str | None, min_year: int = 2000, max_year: int = 2035) -> dict:
    return parse_school_years(pl.Series([raw], dtype=pl.Utf8), min_year, max_year).frame.row(0, named=True)


def normalize_category_value(value: str) -> str:
    return pl.select(normalize_category(pl.lit(value, dtype=pl.Utf8))).item()


def school_year_label(end_year: int) -> str:
    """2024 -> '2023-24'."""
    return f"{end_year - 1}-{str(end_year)[-2:]}"
