"""Vectorized parsers for the values districts write: numbers, rates, suppression markers,
school years, dates, categories and district identifiers.

Each parser takes a column of raw strings and returns typed columns plus an error code per row
(null when the value is fine). They work on whole batches (polars), so a large file is parsed in
bulk rather than cell by cell; the single-value helpers at the bottom wrap them for previews and
property-based tests.

Kept as one module though it is long: the parsers share one grammar of numbers, markers and school
years (a rate, a count and a bound are read by the same rules), which a split would spread apart.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import polars as pl

from innovation_pipeline.contracts import FieldSpec, Suppression

MAX_TEXT_LENGTH = 4000
# Numbers are exact decimals (never binary floats) from the text to the numeric column: up to
# 18 digits before the point and DECIMAL_SCALE after it.
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 20
DECIMAL = pl.Decimal(DECIMAL_PRECISION, DECIMAL_SCALE)
# Money columns are numeric(14, 2) (raw_schema.py): 12 digits before the point.
MONEY_DIGITS = 12
# Dates outside these years are typing errors (0001-01-01, 9999-12-31), not program data.
MIN_DATE_YEAR = 1900
MAX_DATE_YEAR = 2100
_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"

# Suppression bands: each regex captures the bound(s) as written (case-insensitive; a leading
# "n" as in "n<16" is allowed everywhere).
_N = r"(?i)^(?:n\s*)?"
_BAND_LE = rf"{_N}(?:<\s*=|=\s*<|≤|le|at\s+most)\s*{_NUM}\s*%?$"
_BAND_LT = rf"{_N}(?:<|lt|less\s+than|fewer\s+than|under)\s*{_NUM}\s*%?$"
_BAND_OR_LESS = rf"(?i)^{_NUM}\s*%?\s*or\s*(?:less|fewer|below|under)$"
_BAND_GE = rf"{_N}(?:>\s*=|=\s*>|≥|ge|at\s+least)\s*{_NUM}\s*%?$"
_BAND_GT = rf"{_N}(?:>|gt|more\s+than|greater\s+than|over)\s*{_NUM}\s*%?$"
_BAND_OR_MORE = rf"(?i)^{_NUM}\s*%?\s*(?:or\s*(?:greater|more|above|over|higher)|\+)$"
_BAND_RANGE = rf"^{_NUM}\s*%?\s*(?:-|–|to)\s*{_NUM}\s*%?$"

ERROR_MESSAGES = {
    "missing_value": "is blank but a value is required",
    "not_a_number": "is not a number",
    "unknown_marker": "is not a number nor a suppression marker this contract lists",
    "number_too_large": f"has more than {DECIMAL_PRECISION - DECIMAL_SCALE} digits before the decimal point",
    "too_many_decimals": f"has more than {DECIMAL_SCALE - 2} decimal places",
    "money_not_cents": "has more decimal places than cents; it is not rounded",
    "not_whole_number": "is not a whole number",
    "out_of_range": "is outside the allowed range",
    "not_allowed_value": "is not one of the allowed values",
    "bad_date": "is not a date",
    "bad_school_year": "is not a school year",
    "school_year_out_of_range": "is not a plausible school year",
    "value_too_long": f"is longer than {MAX_TEXT_LENGTH} characters",
    "money_too_large": f"is larger than an amount can be (at most {MONEY_DIGITS} digits before the point)",
    "date_out_of_range": f"is not a plausible date (years {MIN_DATE_YEAR} to {MAX_DATE_YEAR})",
    "invalid_character": "holds a character that is not valid text (a broken escape or encoding)",
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


def marker_key(marker: str) -> str:
    """How markers compare: without case or whitespace ('n/a' is 'N/A', '- -' is '--')."""
    return "".join(marker.split()).upper()


def _number_text(t: pl.Expr) -> pl.Expr:
    """A cell with thousands separators, spaces and currency removed ('$1,204.50' -> '1204.50')."""
    return t.str.replace_all(r"[,\s$]", "")


def decide_rate_scale(raw: pl.Series) -> str | None:
    """'percent' or 'fraction' for a rate column written with format auto, from its values.

    Percent when any value is written with % or is above 1, fraction when values are all 0..1,
    None when the values carry no plain number yet. The loader decides once per column and file
    (on the first batch with a number), so a '1' in a percent column is 1%, never 100%.
    """
    c = pl.DataFrame({"r": raw.cast(pl.Utf8)}).select(_number_text(_clean(pl.col("r"))).alias("c"))["c"]
    numeric = c.str.strip_suffix("%").str.contains(_NUMBER).fill_null(False)
    if not numeric.any():
        return None
    values = c.filter(numeric)
    if values.str.ends_with("%").any():
        return "percent"
    numbers = values.str.to_decimal(scale=DECIMAL_SCALE)
    return "percent" if (numbers.fill_null(0) > 1).any() else "fraction"


def _decimal(text: pl.Expr) -> pl.Expr:
    return text.str.to_decimal(scale=DECIMAL_SCALE)


def _lit(value: float | int | str) -> pl.Expr:
    return pl.lit(value, dtype=pl.Utf8).str.to_decimal(scale=DECIMAL_SCALE)


def parse_numeric(
    raw: pl.Series, spec: FieldSpec, suppression: Suppression, rate_scale: str | None = None
) -> Parsed:
    """Parse numbers as written ("1,204", "85%", "$12,500.00", "0.85") and suppression markers.

    Values are exact decimals: "84.2%" is 0.842, never 0.8420000000000001. A marker loads as a
    null value with ``suppressed`` set and, where the marker implies them, ``lower``/``upper``
    bounds in the field's unit (a rate's bounds are fractions within 0..1). Rates come out as
    fractions 0..1; ``rate_scale`` ('percent' or 'fraction') is the column's scale when the
    contract says ``format: auto`` (decided by :func:`decide_rate_scale` when not given).
    """
    df = pl.DataFrame({"raw": raw.cast(pl.Utf8)})
    t = _clean(pl.col("raw"))
    is_rate = spec.type == "rate"
    is_int = spec.type == "integer"
    markers = [marker_key(m) for m in suppression.markers] if spec.suppressible else []
    bands = spec.suppressible and suppression.bands
    scale = spec.format if spec.format != "auto" else (rate_scale or decide_rate_scale(raw) or "fraction")

    df = df.with_columns(t.alias("t"))
    df = df.with_columns(_number_text(pl.col("t")).alias("c")).with_columns(
        pl.col("c").str.ends_with("%").alias("has_pct"),
        pl.col("c").str.strip_suffix("%").alias("body"),
    )
    df = df.with_columns(
        pl.col("body").str.contains(_NUMBER).fill_null(False).alias("is_num"),
        # Digits after the point, net of an exponent ('1.5e-3' has 4), and before it.
        (
            pl.col("body").str.extract(r"\.(\d*)", 1).str.len_chars().fill_null(0).cast(pl.Int64)
            - pl.col("body").str.extract(r"[eE]([+-]?\d+)$", 1).cast(pl.Int64, strict=False).fill_null(0)
        ).alias("decimals"),
        (
            pl.col("body").str.extract(r"^[+-]?0*(\d*)", 1).str.len_chars().fill_null(0).cast(pl.Int64)
            + pl.col("body").str.extract(r"[eE]([+-]?\d+)$", 1).cast(pl.Int64, strict=False).fill_null(0)
        ).alias("int_digits"),
    )
    too_large = pl.col("is_num") & (pl.col("int_digits") > DECIMAL_PRECISION - DECIMAL_SCALE)
    too_precise = pl.col("is_num") & (pl.col("decimals") > DECIMAL_SCALE - 2)
    df = df.with_columns(
        pl.when(pl.col("is_num") & ~too_large & ~too_precise).then(_decimal(pl.col("body"))).alias("num"),
        too_large.alias("too_large"),
        too_precise.alias("too_precise"),
    )
    blank = _is_blank(pl.col("t"))
    is_marker = (
        pl.col("t").str.replace_all(r"\s", "").str.to_uppercase().is_in(markers) if markers else pl.lit(False)
    )

    def bound(pattern: str, group: int = 1) -> pl.Expr:
        return _decimal(pl.col("t").str.extract(pattern, group))

    def as_unit(value: pl.Expr) -> pl.Expr:
        # A rate's band is in percent when the column is, when written with %, or when above 1.
        if not is_rate:
            return value
        in_percent = pl.col("t").str.contains("%") | (value > 1)
        if scale == "percent":
            in_percent = pl.lit(True)
        return pl.when(in_percent).then(value / 100).otherwise(value)

    if bands:
        step = _lit(1 if is_int else 0)
        zero, top = _lit(0), (_lit(1) if is_rate else pl.lit(None, dtype=DECIMAL))
        le, lt, or_less = bound(_BAND_LE), bound(_BAND_LT), bound(_BAND_OR_LESS)
        ge, gt, or_more = bound(_BAND_GE), bound(_BAND_GT), bound(_BAND_OR_MORE)
        lo, hi = bound(_BAND_RANGE, 1), bound(_BAND_RANGE, 2)
        below = le.is_not_null() | lt.is_not_null() | or_less.is_not_null()
        above = ge.is_not_null() | gt.is_not_null() | or_more.is_not_null()
        lower: pl.Expr = (
            pl.when(below)
            .then(zero)
            .when(ge.is_not_null())
            .then(as_unit(ge))
            .when(gt.is_not_null())
            .then(as_unit(gt + step))
            .when(or_more.is_not_null())
            .then(as_unit(or_more))
            .when(lo.is_not_null())
            .then(as_unit(lo))
        )
        upper: pl.Expr = (
            pl.when(le.is_not_null())
            .then(as_unit(le))
            .when(lt.is_not_null())
            .then(as_unit(lt - step))
            .when(or_less.is_not_null())
            .then(as_unit(or_less))
            .when(above)
            .then(top)
            .when(lo.is_not_null())
            .then(as_unit(hi))
        )
        is_band = below | above | lo.is_not_null()
    else:
        lower = upper = pl.lit(None, dtype=DECIMAL)
        is_band = pl.lit(False)

    # Markers and bands are read on the cells that are not numbers only (few, in most columns).
    df = df.with_row_index("__i")
    others = df.filter(~pl.col("is_num") & ~blank)
    marks = others.select(
        "__i",
        (is_marker | is_band).alias("suppressed"),
        lower.cast(DECIMAL).alias("lower"),
        upper.cast(DECIMAL).alias("upper"),
    )
    df = df.join(marks, on="__i", how="left", maintain_order="left").with_columns(
        pl.col("suppressed").fill_null(False)
    )
    if is_rate:
        percent = pl.col("has_pct") | pl.lit(scale == "percent")
        value = pl.when(percent).then(pl.col("num") / 100).otherwise(pl.col("num"))
    else:
        value = pl.col("num")
    df = df.with_columns(
        pl.when(pl.col("suppressed") | blank).then(None).otherwise(value).cast(DECIMAL).alias("value"),
    )
    lo_limit = spec.min if spec.min is not None else (0 if is_rate else None)
    hi_limit = spec.max if spec.max is not None else (1 if is_rate else None)
    out_of_range = pl.lit(False)
    if lo_limit is not None:
        out_of_range = out_of_range | (pl.col("value") < _lit(repr(lo_limit)))
    if hi_limit is not None:
        out_of_range = out_of_range | (pl.col("value") > _lit(repr(hi_limit)))
    not_number = ~blank & ~pl.col("suppressed") & ~pl.col("is_num")
    # A suppressible field expects markers: a short cell with no digits and at most three letters
    # ('NR', 'n.d.', '†', '.') is a marker it does not know; a word ('twelve') is not a number.
    unknown_marker = not_number & pl.lit(spec.suppressible) & ~pl.col("t").str.contains(r"\d")
    unknown_marker = unknown_marker & (pl.col("t").str.len_chars() <= 8)
    unknown_marker = unknown_marker & (pl.col("t").str.count_matches(r"[^\W\d_]") <= 3)
    not_whole = (pl.col("value") != pl.col("value").floor()) if is_int else pl.lit(False)
    money_too_large = pl.lit(spec.type == "money") & pl.col("is_num") & (pl.col("int_digits") > MONEY_DIGITS)
    not_cents = pl.lit(spec.type == "money") & pl.col("is_num") & (pl.col("decimals") > 2)
    not_cents = not_cents & (pl.col("value") != pl.col("value").round(2))
    error = (
        pl.when(blank & pl.lit(spec.required))
        .then(pl.lit("missing_value"))
        .when(unknown_marker)
        .then(pl.lit("unknown_marker"))
        .when(not_number)
        .then(pl.lit("not_a_number"))
        .when(~blank & ~pl.col("suppressed") & pl.col("too_large"))
        .then(pl.lit("number_too_large"))
        .when(~blank & ~pl.col("suppressed") & pl.col("too_precise"))
        .then(pl.lit("too_many_decimals"))
        .when(~blank & ~pl.col("suppressed") & money_too_large)
        .then(pl.lit("money_too_large"))
        .when(not_whole.fill_null(False))
        .then(pl.lit("not_whole_number"))
        .when(not_cents.fill_null(False))
        .then(pl.lit("money_not_cents"))
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


def decimal_text(values: pl.Series) -> pl.Series:
    """Exact decimals as the text COPY writes to a numeric column: no trailing zeros
    ('0.84200000000000000000' -> '0.842', '12.00' -> '12'). Worked out once per distinct value
    when values repeat (a column of credits has a handful), since the two regex passes per row
    were a fifth of the loader's time (py-spy, benchmarks)."""
    distinct = values.unique()
    if distinct.len() * 8 >= values.len():
        return _decimal_text(values)
    lookup = pl.DataFrame({"v": distinct, "t": _decimal_text(distinct)})
    joined = pl.DataFrame({"v": values}).join(
        lookup, on="v", how="left", maintain_order="left", nulls_equal=True
    )
    return joined["t"].alias(values.name)


def _decimal_text(values: pl.Series) -> pl.Series:
    text = values.cast(pl.Utf8)
    return text.str.replace(r"(\.\d*?)0+$", "${1}").str.replace(r"\.$", "")


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
        .when((pl.col("value").dt.year() < MIN_DATE_YEAR) | (pl.col("value").dt.year() > MAX_DATE_YEAR))
        .then(pl.lit("date_out_of_range"))
    )
    df = df.with_columns(error.alias("error"))
    return Parsed(df.select(pl.when(pl.col("error").is_null()).then(pl.col("value")).alias("value"), "error"))


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


def header_school_year(text: str, min_year: int = 2000, max_year: int = 2035) -> int | None:
    """The school year a column name writes: '2024', '2023-24', 'SY2024', or the compact forms
    '1314' and '201314' (2013-14, as EDFacts writes it); None if it is not a plausible one."""
    compact = re.fullmatch(r"(\d{2})(\d{2})|(\d{4})(\d{2})", text.strip())
    parsed = parse_school_year(text, min_year, max_year)
    if parsed["error"] is None:
        return parsed["value"]
    if compact:
        first, second = (compact.group(1), compact.group(2)) if compact.group(1) else compact.groups()[2:]
        if (int(first[-2:]) + 1) % 100 == int(second):
            end = (
                int(first) + 1
                if len(first) == 4
                else (2000 + int(second) if int(second) < 70 else 1900 + int(second))
            )
            return end if min_year <= end <= max_year else None
    return None


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


def school_year_label(end_year: int | None) -> str:
    """2024 -> '2023-24'; None -> 'Unknown school year'."""
    if end_year is None:
        return "Unknown school year"
    return f"{end_year - 1}-{str(end_year)[-2:]}"
