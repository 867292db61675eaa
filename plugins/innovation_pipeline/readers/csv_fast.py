"""The CSV fast path: UTF-8 files read block by block by polars' native parser.

Yields the same batches as the csv-module path in :mod:`.csv`, and hands the rest of a file to it
at anything polars would read differently.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from innovation_pipeline.readers.quotes import _unclosed_quote, swallowed_records
from innovation_pipeline.readers.source_file import ROW_KIND, ReadStats, _batched_text

# What Python's str.strip() removes: a row is blank when every cell is made of these only.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WHITESPACE_ONLY = "^[" + "".join(f"\\x{{{ord(c):X}}}" for c in PY_WHITESPACE) + "]*$"
FAST_BLOCK_BYTES = 2 * 1024 * 1024
# A block with no record boundary in this many bytes (a runaway quote) goes to the csv module;
# kept below the csv module's field_size_limit (set in readers/csv.py), so no field polars reads is one the
# csv module would refuse.
FAST_MAX_PENDING = 4 * FAST_BLOCK_BYTES

RowSource = Callable[[int, int, int], Iterator[tuple[int, list[object]]]]


def _record_end(data: bytes) -> int:
    """Offset just after the last newline of ``data`` outside a quoted field, or -1.

    Blocks start on a record boundary, so a newline ends a record exactly when the quotes before
    it pair up (RFC 4180 escapes a quote by doubling it, which keeps the count even).
    """
    if b'"' not in data:
        return data.rfind(b"\n") + 1 or -1
    quotes = data.count(b'"')
    end = len(data)
    while (nl := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', nl + 1, end)
        if quotes % 2 == 0:
            return nl + 1
        end = nl
    return -1


def _header_end(head: bytes, header_row: int, header: list[object], delimiter: str) -> int | None:
    """Byte offset of the first data record: after ``header_row`` records that end within
    ``head``, the last of them read by the csv module as ``header``; else None."""
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    record = start
    for _ in range(header_row):
        record, pos = start, start
        while True:
            nl = head.find(b"\n", pos)
            if nl < 0:
                return None
            if head.count(b'"', record, nl) % 2 == 0:
                break
            pos = nl + 1
        start = nl + 1
    try:
        text = head[record:start].decode("utf-8")
        parsed = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return start if parsed == [str(c).lstrip("\ufeff") for c in header] else None


def _fast_csv(
    path: Path,
    head: bytes,
    header_row: int,
    header: list[object],
    columns: dict[str, int],
    delimiter: str,
    skip_blank: bool,
    stats: ReadStats,
    batch_size: int,
    rows: RowSource,
    file_name: str = "",
) -> Iterator[pl.DataFrame]:
    """UTF-8 CSV read by polars' native parser, block by block, in the general path's batches.

    The file is cut into blocks of whole records; polars turns each into string columns (every
    cell as written; a short row's missing cells as empty text) and the batches are what the
    csv-module path yields: same row numbers (a blank line is a record, as the csv module counts
    them), same blank-row skipping, same cells. Anything polars would not read the way the csv
    module does (a stray quote, a row longer than the header, bytes that are not UTF-8, a line
    ending other than LF or CRLF) sends the rest of the file, from that block on, to the csv
    module: its lenient rules and its "cannot be read" rejection apply there unchanged.
    """
    names, indexes = list(columns), list(columns.values())
    offset = _header_end(head, header_row, header, delimiter)
    if offset is None:
        yield from _batched_text(rows(0, 1, 0), names, indexes, skip_blank, stats, batch_size)  # type: ignore[arg-type]
        return
    width = len(header)
    cells = [f"c{i}" for i in range(width)]
    synthetic = (delimiter.join(cells) + "\n").encode("ascii")
    number, lines = header_row + 1, header_row
    pending = b""
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(FAST_BLOCK_BYTES)
            data = pending + chunk if pending else chunk
            if not data:
                return
            end = _record_end(data) if chunk else len(data)
            if end < 0 and len(data) <= FAST_MAX_PENDING:
                pending = data
                continue
            frame = _parse_block(synthetic + data[:end], delimiter, width) if end > 0 else None
            if frame is None:
                # From here on the csv module reads the file, as the general path would.
                rest = rows(offset, number, lines)
                yield from _batched_text(rest, names, indexes, skip_blank, stats, batch_size)  # type: ignore[arg-type]
                return
            _check_block_quotes(frame, cells, header, delimiter, number, file_name)
            offset += end
            lines += data.count(b"\n", 0, end)
            pending = data[end:]
            blank = _blank_rows(frame, cells) if skip_blank else None
            frame = frame.select(
                pl.int_range(number, number + frame.height, dtype=pl.Int64).alias("_source_row"),
                pl.lit("district", dtype=pl.Utf8).alias(ROW_KIND),
                *[pl.col(cells[i]).alias(target) for target, i in columns.items()],
            )
            number += frame.height
            if blank is not None:
                stats.skip("blank row", blank.len())
                frame = frame.with_row_index("__i").filter(~pl.col("__i").is_in(blank.implode())).drop("__i")
            for start in range(0, frame.height, batch_size):
                yield frame.slice(start, batch_size)


def _check_block_quotes(
    frame: pl.DataFrame, cells: list[str], header: list[object], delimiter: str, first: int, file_name: str
) -> None:
    """The fast path's :func:`_guard_quotes`: only rows with a line break in a cell are looked at."""
    broken = frame.select(
        pl.any_horizontal(
            pl.col(c).str.contains("\n", literal=True) | pl.col(c).str.contains("\r", literal=True)
            for c in cells
        )
    ).to_series()
    if not broken.any():
        return
    for at in broken.arg_true().to_list():
        for i, cell in enumerate(frame.row(at)):
            if isinstance(cell, str) and swallowed_records(cell, delimiter, len(header)):
                raise _unclosed_quote(file_name, first + at, header[i])


def _blank_rows(frame: pl.DataFrame, cells: list[str]) -> pl.Series | None:
    """Positions of rows whose every cell is empty or whitespace (Python's idea of whitespace,
    as in the csv-module path), or None. Only rows whose first cell is blank are looked at."""
    maybe = frame[cells[0]].str.contains(_WHITESPACE_ONLY)
    if not maybe.any():
        return None
    at = maybe.arg_true()
    blank = frame[at].select(pl.all_horizontal(pl.col(c).str.contains(_WHITESPACE_ONLY) for c in cells))
    found = at.filter(blank.to_series())
    return found if found.len() else None


def _parse_block(data: bytes, delimiter: str, width: int) -> pl.DataFrame | None:
    """Whole records (after a synthetic header line) as string columns; None where polars would
    read them differently from the csv module, or cannot read them."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        # A lone CR ends a record for the csv module, not for polars.
        return None
    try:
        frame = pl.read_csv(
            data,
            has_header=True,
            separator=delimiter,
            quote_char='"',
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=False,
            truncate_ragged_lines=False,
            encoding="utf8",
        )
    except Exception:  # any parse problem: the csv module decides
        return None
    if frame.width != width:
        return None
    return frame
