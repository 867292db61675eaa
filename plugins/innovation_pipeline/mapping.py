"""Map batches of raw text to typed raw-table rows, and quarantine what breaks the contract.

Every row of a batch either comes out in the ``good`` frame (COPYed to ``raw.<source>``) or has
one or more problems in the ``problems`` frame (COPYed to ``audit.quarantine``), each with a
reason code, a message a program officer can read, the column and the raw value (masked for
student identifiers). Checks that need the whole submission (duplicate keys, one district and
one school year per file) run after the batches are in (:mod:`.checks`, :mod:`.duplicates`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from innovation_pipeline.contracts import NUMERIC_TYPES, Contract, FieldSpec
from innovation_pipeline.crosswalk import Crosswalk, canonical_submitter
from innovation_pipeline.parsing import (
    ERROR_MESSAGES,
    Parsed,
    decide_rate_scale,
    decimal_text,
    header_school_year,
    normalize_district_code,
    parse_boolean,
    parse_date,
    parse_numeric,
    parse_school_year,
    parse_school_years,
    parse_text,
    school_year_label,
)
from innovation_pipeline.privacy import MASK, pseudonymize
from innovation_pipeline.quarantine import (
    QUARANTINE_COLUMNS,
    QUARANTINE_SCHEMA,
    RAW_VALUE_LIMIT,
    _empty_problems,
)
from innovation_pipeline.raw_schema import column_name
from innovation_pipeline.readers import DISTRICT, ROW_KIND, SCHOOL_YEAR, FileRejected, SourceFile

MESSAGE_VALUE_LIMIT = 100
UNKNOWN_NOTES_CACHED = 10_000


def filename_school_year(contract: Contract, text: str | None) -> int | None:
    if not text:
        return None
    return parse_school_year(text, contract.school_year.min_year, contract.school_year.max_year)["value"]


@dataclass
class MappingContext:
    """Everything the mapper needs about one submission."""

    contract: Contract
    source: SourceFile
    crosswalk: Crosswalk
    key: dict[str, str]
    pseudonym_key: bytes
    submission_id: int | None = None
    submitter: str | None = None
    submitter_district: str | None = None
    school_year: int | None = None
    notes: list[str] = field(default_factory=list)
    unknown_notes: dict[str, str] = field(default_factory=dict)  # unknown district -> explanation
    # A rate column's scale ('percent' or 'fraction'), decided once per file (format: auto).
    rate_scales: dict[str, str] = field(default_factory=dict)
    header_years: dict[str, int] = field(default_factory=dict)  # field -> year its column names

    @property
    def lookup_state(self) -> str:
        """The state whose directory resolves districts: a multi-state feed keyed by each state's
        own codes or names takes it from its submitter (the file name's state prefix)."""
        c = self.contract
        if c.state == "US" and c.district.scheme != "nces_lea_id" and self.submitter:
            return self.submitter
        return c.state

    def explain_unknown_district(self, value: str) -> str:
        """Why a district is unknown, with the closest known names.

        Finding those names is slow (difflib over the state's directory) and a misspelled district
        recurs in many rows, so each value is explained once per submission.
        """
        note = self.unknown_notes.get(value)
        if note is None:
            c = self.contract
            note = self.crosswalk.explain_unknown(
                value, c.district.scheme, self.lookup_state, self.school_year
            )
            if len(self.unknown_notes) < UNKNOWN_NOTES_CACHED:
                self.unknown_notes[value] = note
        return note

    def resolve_filename_parts(self) -> None:
        """School year and submitter from the file name, where the contract takes them from there."""
        c, name = self.contract, self.source.name
        if c.school_year.source == "filename":
            written = self.key.get("school_year", "")
            parsed = parse_school_year(written, c.school_year.min_year, c.school_year.max_year)
            if parsed["error"]:
                raise FileRejected(
                    "bad_file_name",
                    f"{name}: the school year {written!r} in the file name {ERROR_MESSAGES[parsed['error']]}"
                    f" (expected {c.school_year.min_year - 1}-{str(c.school_year.min_year)[-2:]} to "
                    f"{c.school_year.max_year - 1}-{str(c.school_year.max_year)[-2:]})",
                )
            self.school_year = parsed["value"]
        elif c.school_year.source == "header":
            # A wide file lands once per year column (multi_year.py); this load is for that year.
            if c.school_year.year is None:
                raise FileRejected(
                    "bad_header_year", f"{name}: no school year column was chosen for this load"
                )
            self.school_year = c.school_year.year
        self.check_header_years()
        self.submitter, self.submitter_district = canonical_submitter(
            self.crosswalk, c, self.key.get("submitter"), self.school_year
        )

    def check_header_years(self) -> None:
        """A column found by a year pattern (``ALL_RATE_(\\d{4})``) must name the submission's year."""
        c, name = self.contract, self.source.name
        for spec in c.fields:
            column = self.source.mapping.get(spec.name)
            if column is None or column in spec.sources:
                continue
            for pattern in spec.source_patterns:
                written = pattern.year_text(" ".join(column.split()))
                if written is None:
                    continue
                year = header_school_year(written, c.school_year.min_year, c.school_year.max_year)
                if year is None:
                    raise FileRejected(
                        "bad_header_year",
                        f"{name}: column {column!r} names {written!r}, which is not a school year",
                        column=column,
                    )
                if self.school_year is not None and year != self.school_year:
                    raise FileRejected(
                        "school_year_mismatch",
                        f"{name}: column {column!r} is for {school_year_label(year)} but the file is for "
                        f"{school_year_label(self.school_year)}",
                        column=column,
                    )
                self.header_years[spec.name] = year
                break

    def rate_scale(self, spec: FieldSpec, raw: pl.Series) -> str | None:
        """The scale of a ``format: auto`` rate column, decided on the first batch with a number."""
        if spec.type != "rate" or spec.format != "auto":
            return None
        if spec.name not in self.rate_scales:
            decided = decide_rate_scale(raw)
            if decided is None:
                return None
            self.rate_scales[spec.name] = decided
        return self.rate_scales[spec.name]


def _parse_field(spec: FieldSpec, raw: pl.Series, contract: Contract, scale: str | None = None) -> Parsed:
    return parse_distinct(lambda values: _parse_values(spec, values, contract, scale), raw)


def parse_distinct(parse: Callable[[pl.Series], Parsed], raw: pl.Series) -> Parsed:
    """``parse(raw)``, computed once per distinct value where values repeat.

    Every parser is a function of the cell alone, so parsing the distinct values and joining the
    result back to the rows gives the same columns; a batch of a statewide file has a few hundred
    dates, amounts, categories and names among tens of thousands of rows.
    """
    distinct = raw.unique()
    if distinct.len() * 2 > raw.len():
        return parse(raw)
    parsed = parse(distinct).frame.with_columns(distinct.alias("__raw"))
    frame = (
        raw.alias("__raw")
        .to_frame()
        .join(parsed, on="__raw", how="left", maintain_order="left", nulls_equal=True)
        .drop("__raw")
    )
    return Parsed(frame)


def _parse_values(spec: FieldSpec, raw: pl.Series, contract: Contract, scale: str | None = None) -> Parsed:
    if spec.type in NUMERIC_TYPES:
        return parse_numeric(raw, spec, contract.suppression, scale)
    if spec.type == "date":
        return parse_date(raw, spec)
    if spec.type == "boolean":
        return parse_boolean(raw, spec)
    return parse_text(raw, spec)


def _detail(spec: FieldSpec | None, code: str, markers: list[str] | None = None) -> str:
    if spec is None:
        return ""
    if code == "out_of_range":
        lo = spec.min if spec.min is not None else (0 if spec.type == "rate" else None)
        hi = spec.max if spec.max is not None else (1 if spec.type == "rate" else None)
        unit = " as a fraction, or 0% to 100%" if spec.type == "rate" else ""
        bounds = " to ".join(f"{b:g}" for b in (lo, hi) if b is not None)
        if lo is not None and hi is None:
            bounds = f"at least {lo:g}"
        elif hi is not None and lo is None:
            bounds = f"at most {hi:g}"
        return f" (allowed: {bounds}{unit})"
    if code == "not_allowed_value" and spec.allowed:
        return f" (allowed: {', '.join(spec.allowed)})"
    if code == "unknown_marker":
        known = ", ".join(markers or [])
        return f" (known markers: {known}; if it is one, add it to suppression.markers)"
    return ""


class _Problems:
    """Collects per-row problems for one batch."""

    def __init__(self, ctx: MappingContext, rows: pl.Series):
        self.ctx = ctx
        self.rows = rows
        self.parts: list[pl.DataFrame] = []

    def add(self, target: str, errors: pl.Series, raw: pl.Series, message=None) -> None:
        mask = errors.is_not_null()
        if not mask.any():
            return
        c = self.ctx.contract
        spec = next((f for f in c.fields if f.name == target), None)
        column = self.ctx.source.mapping.get(target, target)
        field_name = {DISTRICT: "district_id", SCHOOL_YEAR: "school_year"}.get(target, target)
        bad_rows = self.rows.filter(mask).to_list()
        bad_codes = errors.filter(mask).to_list()
        bad_raw = raw.filter(mask).to_list()
        messages, shown = [], []
        for row, code, value in zip(bad_rows, bad_codes, bad_raw, strict=True):
            is_student = spec is not None and spec.type == "student_id"
            # PostgreSQL text cannot hold NUL: the quarantine keeps the value without them.
            text = None if value is None else str(value).replace("\x00", "")
            display = MASK if (is_student and text) else (text[:RAW_VALUE_LIMIT] if text else None)
            shown.append(display)
            # A message quotes at most MESSAGE_VALUE_LIMIT characters of the value (raw_value keeps more).
            short = (
                text
                if text is None or len(text) <= MESSAGE_VALUE_LIMIT
                else text[:MESSAGE_VALUE_LIMIT] + "..."
            )
            if message is not None:
                what = message(short, code)
            else:
                quoted = "the value" if is_student else (f"{short!r}" if display else "the cell")
                what = (
                    f"{quoted} {ERROR_MESSAGES.get(code, code)}{_detail(spec, code, c.suppression.markers)}"
                )
            messages.append(f"Row {row}, column '{column}': {what}.")
        n = len(bad_rows)
        self.parts.append(
            pl.DataFrame(
                {
                    "submission_id": [self.ctx.submission_id] * n,
                    "source": [c.source] * n,
                    "source_row": bad_rows,
                    "sheet": [self.ctx.source.sheet] * n,
                    "column_name": [column] * n,
                    "field_name": [field_name] * n,
                    "reason_code": bad_codes,
                    "message": messages,
                    "raw_value": shown,
                },
                schema=QUARANTINE_SCHEMA,
            )
        )

    def frame(self) -> pl.DataFrame:
        if not self.parts:
            return _empty_problems()
        return pl.concat(self.parts).select(QUARANTINE_COLUMNS)


def map_batch(ctx: MappingContext, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed rows for the raw table, and the problems of rows that break the contract."""
    c = ctx.contract
    rows = batch["_source_row"]
    problems = _Problems(ctx, rows)
    is_total = batch[ROW_KIND] == "state_total"
    out: dict[str, pl.Series] = {}

    if c.school_year.source == "column":
        parsed_year = parse_school_years(batch[SCHOOL_YEAR], c.school_year.min_year, c.school_year.max_year)
        problems.add(SCHOOL_YEAR, parsed_year.errors, batch[SCHOOL_YEAR])
        year_values = parsed_year.frame["value"]
    else:
        year_values = pl.repeat(ctx.school_year, batch.height, dtype=pl.Int32, eager=True)

    # District: resolved through the crosswalk (once per distinct value and school year, since a
    # district exists for its years only); a state-total row has none.
    raw_district = batch[DISTRICT]
    district = _resolve_districts(ctx, raw_district, year_values)
    ids, states = district["id"], district["state"]
    district_error = pl.select(
        pl.when(pl.lit(is_total))
        .then(None)
        .when(pl.lit(district["blank"]))
        .then(pl.lit("missing_value"))
        .when(pl.lit(ids).is_null())
        .then(pl.lit("unknown_district"))
        .when(pl.lit(ctx.submitter_district is not None) & (pl.lit(ids) != pl.lit(ctx.submitter_district)))
        .then(pl.lit("district_mismatch"))
    ).to_series()

    def district_message(value: str | None, code: str) -> str:
        if code == "unknown_district":
            return ctx.explain_unknown_district(value or "")
        if code == "invalid_character":
            return f"the district {ERROR_MESSAGES[code]}"
        if code == "district_mismatch":
            return f"district {value!r} is not the submitting district {ctx.submitter_district}"
        return f"the district is blank {ERROR_MESSAGES['missing_value'].split(' but ')[1]}"

    problems.add(DISTRICT, _invalid_characters(district_error, raw_district), raw_district, district_message)
    total_state = ctx.submitter if c.state == "US" else c.state
    out["state"] = pl.select(
        pl.when(pl.lit(is_total))
        .then(pl.lit(total_state))
        .otherwise(pl.lit(states) if c.state == "US" else pl.lit(c.state))
    ).to_series()
    out["district_id"] = pl.select(pl.when(pl.lit(is_total)).then(None).otherwise(pl.lit(ids))).to_series()
    # As written, less NUL bytes (PostgreSQL text cannot hold them).
    out["district_source_value"] = raw_district.str.replace_all("\x00", "", literal=True)

    out["school_year"] = year_values

    for spec in c.fields:
        raw = (
            batch[spec.name]
            if spec.name in batch.columns
            else pl.Series([None] * batch.height, dtype=pl.Utf8)
        )
        if spec.type == "student_id":
            parsed = parse_distinct(functools.partial(parse_text, spec=spec), raw)
            problems.add(spec.name, parsed.errors, raw)
            # One HMAC per distinct identifier in the batch (a student has several rows), not per row.
            values = parsed.frame["value"]
            distinct = values.drop_nulls().unique()
            keys = pl.Series(pseudonymize(distinct.to_list(), ctx.pseudonym_key), dtype=pl.Utf8)
            out[column_name(spec)] = values.replace_strict(distinct, keys, default=None, return_dtype=pl.Utf8)
            continue
        parsed = _parse_field(spec, raw, c, ctx.rate_scale(spec, raw))
        problems.add(spec.name, _invalid_characters(parsed.errors, raw, ctx.source.sheet is not None), raw)
        value = parsed.frame["value"]
        # Exact decimals go to the table as the text of the number, never through a float.
        out[spec.name] = value.cast(pl.Int64) if spec.type == "integer" else decimal_text(value)
        if spec.suppressible:
            out[f"{spec.name}__suppressed"] = parsed.frame["suppressed"]
            out[f"{spec.name}__marker"] = parsed.frame["marker"]
            for part in ("lower", "upper"):
                out[f"{spec.name}__{part}"] = decimal_text(parsed.frame[part])

    bad = problems.frame()
    bad_rows = bad["source_row"].unique() if bad.height else pl.Series([], dtype=pl.Int64)
    good = (
        pl.DataFrame({"_source_row": rows, "row_kind": batch[ROW_KIND], **out})
        .filter(~pl.col("_source_row").is_in(bad_rows.implode()))
        .select(
            pl.lit(ctx.submission_id, dtype=pl.Int64).alias("_submission_id"),
            pl.lit(ctx.source.sheet, dtype=pl.Utf8).alias("_sheet"),
            pl.all(),
        )
    )
    return good, bad


def _invalid_characters(errors: pl.Series, raw: pl.Series, workbook: bool = False) -> pl.Series:
    """``errors``, with ``invalid_character`` (first) for cells holding U+FFFD: the reader's stand-in for
    a lone surrogate (JSON '\\ud800'), or what a broken encoding left upstream; and in a
    workbook, ``formula_not_computed`` for a formula the reader found no value for."""
    bad = raw.str.contains("\ufffd", literal=True).fill_null(False)
    if bad.any():
        errors = pl.select(
            pl.when(pl.lit(bad)).then(pl.lit("invalid_character")).otherwise(pl.lit(errors))
        ).to_series()
    if workbook and errors.is_not_null().any():
        formula = raw.str.starts_with("=").fill_null(False)
        errors = pl.select(
            pl.when(pl.lit(errors).is_not_null() & pl.lit(formula))
            .then(pl.lit("formula_not_computed"))
            .otherwise(pl.lit(errors))
        ).to_series()
    return errors


def _resolve_districts(ctx: MappingContext, raw: pl.Series, years: pl.Series) -> pl.DataFrame:
    """Per row: the crosswalk's district ``id`` and ``state`` in the row's school year, and whether
    the cell is ``blank``; worked out once per distinct value and year and joined back to the rows."""
    c = ctx.contract
    rows = pl.DataFrame({"__raw": raw, "__year": years.cast(pl.Int64)})
    distinct = rows.unique(maintain_order=True)
    keys = normalize_district_code(distinct["__raw"], c.district.scheme, c.district.width)
    ids, states = ctx.crosswalk.resolve(
        distinct["__raw"],
        c.district.scheme,
        ctx.lookup_state,
        c.district.width,
        keys=keys,
        years=distinct["__year"],
    )
    resolved = distinct.with_columns(id=ids, state=states, blank=keys.fill_null("") == "")
    return rows.join(
        resolved, on=["__raw", "__year"], how="left", maintain_order="left", nulls_equal=True
    ).drop("__raw", "__year")
