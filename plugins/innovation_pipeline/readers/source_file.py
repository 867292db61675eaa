"""The opened file every reader returns: header search, column mapping and batches of raw text.

Shared by the CSV, Excel and JSON readers: finding the header row, mapping source columns to the
contract's fields, and cutting data rows into batches of text (cells are never interpreted here).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import polars as pl

from innovation_pipeline.contracts import Contract
from innovation_pipeline.row_filters import RowRules as _RowRules
from innovation_pipeline.row_filters import pattern_column

HEADER_SCAN_ROWS = 40
DISTRICT = "__district"
SCHOOL_YEAR = "__school_year"
ROW_KIND = "__row_kind"


class FileRejected(Exception):
    """A file that cannot be loaded at all; ``code`` is machine-readable, ``str()`` is for people."""

    def __init__(self, code: str, message: str, *, row: int | None = None, column: str | None = None):
        self.code = code
        self.row = row
        self.column = column
        super().__init__(message)


def _norm_header(value: object) -> str:
    return " ".join(str(value).replace("\ufeff", "").split()).lower() if value is not None else ""


def _cell_text(value: object) -> str | None:
    """Excel and JSON cells as the text a CSV would have carried."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _valid_text(json.dumps(value, ensure_ascii=False))
    return str(value)


@dataclass
class ReadStats:
    rows_skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, rows: int = 1) -> None:
        self.rows_skipped += rows
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + rows


@dataclass
class SourceFile:
    """An opened file: its header, column mapping and a batch iterator over data rows."""

    name: str
    sheet: str | None
    header_row: int
    header: list[str]
    mapping: dict[str, str]  # target -> source column as written
    unmapped: list[str]
    encoding: str | None
    delimiter: str | None
    stats: ReadStats
    _batches: Iterator[pl.DataFrame]

    def batches(self) -> Iterator[pl.DataFrame]:
        return self._batches


def _targets(contract: Contract) -> dict[str, tuple[list, bool]]:
    """Every column the contract reads: target name -> (source aliases or patterns, required)."""
    targets: dict[str, tuple[list, bool]] = {
        f.name: ([*f.sources, *f.source_patterns], f.required) for f in contract.fields
    }
    d = contract.district.column
    targets[DISTRICT] = ([d] if isinstance(d, str) else list(d), True)
    if contract.school_year.source == "column":
        c = contract.school_year.column or []
        targets[SCHOOL_YEAR] = ([c] if isinstance(c, str) else list(c), True)
    return targets


def _map_header(header: list[object], contract: Contract) -> tuple[dict[str, int], list[str]]:
    """Column index for each target found, and the required targets not found (as people read them)."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(header):
        positions.setdefault(_norm_header(cell), i)
    found: dict[str, int] = {}
    missing: list[str] = []
    for target, (aliases, required) in _targets(contract).items():
        for alias in aliases:
            idx = (
                positions.get(_norm_header(alias))
                if isinstance(alias, str)
                else pattern_column(alias, header)
            )
            if idx is not None:
                found[target] = idx
                break
        else:
            if required:
                missing.append(" or ".join(repr(a if isinstance(a, str) else a.pattern) for a in aliases))
    return found, missing


def check_duplicate_columns(header: list[object], columns: dict[str, int], file_name: str) -> None:
    """Refuse a header that names a column the contract reads more than once: which of them is
    meant cannot be known, and reading the first would silently drop the other."""
    names = [_norm_header(cell) for cell in header]
    for idx in sorted(set(columns.values())):
        if names[idx] and names.count(names[idx]) > 1:
            at = [i + 1 for i, n in enumerate(names) if n == names[idx]]
            raise FileRejected(
                "duplicate_columns",
                f"{file_name}: the header names the column {str(header[idx])[:100]!r} "
                f"{len(at)} times (columns {', '.join(map(str, at))}); rename or remove the extra one",
                column=str(header[idx]),
            )


def _find_header(rows: list[tuple[int, list[Any]]], contract: Contract, file_name: str):
    """The header row: as configured, or the first row naming every required column."""
    wanted = contract.file.header_row
    best: tuple[int, list[str]] | None = None
    for number, row in rows:
        if wanted != "auto" and number != wanted:
            continue
        found, missing = _map_header(row, contract)
        if not missing:
            return number, row, found
        if best is None or len(missing) < len(best[1]):
            best = (number, missing)
    if best is None:
        raise FileRejected(
            "missing_columns",
            f"{file_name}: no header row found"
            + (f" at row {wanted}" if wanted != "auto" else f" in the first {HEADER_SCAN_ROWS} rows"),
        )
    number, missing = best
    raise FileRejected(
        "missing_columns",
        f"{file_name}: the header (row {number}) lacks required column(s): {', '.join(missing)}",
        row=number,
    )


def _batched_text(
    rows: Iterator[tuple[int, list[str]]],
    names: list[str],
    indexes: list[int],
    skip_blank: bool,
    stats: ReadStats,
    batch_size: int,
) -> Iterator[pl.DataFrame]:
    """CSV rows (every cell already text) when the contract has no skip, stop or state-total rule.

    Same output as the general path, but rows are kept whole and turned into columns by
    ``itemgetter``/``zip`` in C: per cell Python work was most of the loader's time on big files.
    """
    need = max(indexes, default=-1) + 1
    pick = itemgetter(*indexes) if len(indexes) > 1 else (lambda r: (r[indexes[0]],))
    numbers: list[int] = []
    kept: list[list[str]] = []

    def flush() -> pl.DataFrame:
        columns = zip(*map(pick, kept), strict=True) if kept else iter([()] * len(names))
        data: dict[str, pl.Series] = {
            "_source_row": pl.Series("_source_row", numbers, dtype=pl.Int64),
            ROW_KIND: pl.Series(ROW_KIND, ["district"] * len(numbers), dtype=pl.Utf8),
        }
        for name, values in zip(names, columns, strict=True):
            data[name] = pl.Series(name, values, dtype=pl.Utf8)
        numbers.clear()
        kept.clear()
        return pl.DataFrame(data)

    for number, row in rows:
        # For text cells this is the general path's "no cell has anything but whitespace".
        if skip_blank and not "".join(row).strip():
            stats.skip("blank row")
            continue
        if len(row) < need:
            row = row + [None] * (need - len(row))  # type: ignore[list-item]
        numbers.append(number)
        kept.append(row)
        if len(numbers) >= batch_size:
            yield flush()
    if numbers:
        yield flush()


def _batched(
    rows: Iterator[tuple[int, list[object]]],
    columns: dict[str, int],
    rules: _RowRules,
    stats: ReadStats,
    batch_size: int,
    *,
    text_cells: bool = False,
) -> Iterator[pl.DataFrame]:
    names = list(columns)
    indexes = [columns[n] for n in names]
    if text_cells and not rules.active:
        yield from _batched_text(rows, names, indexes, rules.skip_blank, stats, batch_size)  # type: ignore[arg-type]
        return
    buf_rows: list[int] = []
    buf_kind: list[str] = []
    buf_cols: list[list[str | None]] = [[] for _ in names]

    def flush() -> pl.DataFrame:
        data: dict[str, object] = {"_source_row": buf_rows[:], ROW_KIND: buf_kind[:]}
        for name, values in zip(names, buf_cols, strict=True):
            data[name] = values[:]
        frame = pl.DataFrame(
            data, schema={"_source_row": pl.Int64, ROW_KIND: pl.Utf8, **dict.fromkeys(names, pl.Utf8)}
        )
        buf_rows.clear()
        buf_kind.clear()
        for values in buf_cols:
            values.clear()
        return frame

    for number, row in rows:
        kind = rules.classify(row)
        if kind == "stop":
            stats.skip("end marker")
            break
        if kind in ("blank", "skip", "not_kept"):
            stats.skip({"blank": "blank row", "skip": "note or footnote"}.get(kind, "not kept by rows.keep"))
            continue
        buf_rows.append(number)
        buf_kind.append("state_total" if kind == "state_total" else "district")
        width = len(row)
        for values, idx in zip(buf_cols, indexes, strict=True):
            values.append(_cell_text(row[idx]) if idx < width else None)
        if len(buf_rows) >= batch_size:
            yield flush()
    if buf_rows:
        yield flush()


def _valid_text(value: str) -> str:
    """A JSON string with its lone surrogates ('\\ud800', which no database stores) as U+FFFD;
    a cell holding one is quarantined (mapping.py: invalid_character)."""
    if value.isascii():
        return value
    return (
        value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _has_surrogate(value) else value
    )


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)
