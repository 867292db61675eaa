"""Read a submitted file in batches of raw strings, following its contract's layout.

The reader finds the header (below title rows if need be), maps source columns to canonical
fields, drops blank rows, footnotes and anything after an end marker, tags the state-total row,
and yields batches of raw text with each row's number in the file. It never interprets values:
that is :mod:`innovation_pipeline.parsing`'s job. A file that cannot be read as its contract says
raises :class:`FileRejected` with a reason code and a message naming the file (and row or column).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import polars as pl

from innovation_pipeline.contracts import Contract
from innovation_pipeline.headers import join_header_rows
from innovation_pipeline.row_filters import RowRules as _RowRules
from innovation_pipeline.row_filters import check_header, pattern_column

HEADER_SCAN_ROWS = 40
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_JSON_BYTES = 256 * 1024 * 1024
# Bounds on one sheet of a workbook: a 1,048,576-row sheet of 30 columns is within them.
MAX_EXCEL_COLUMNS = 1_000
MAX_EXCEL_CELLS = 64_000_000
MAX_EXCEL_SECONDS = 45 * 60
DISTRICT = "__district"
SCHOOL_YEAR = "__school_year"
ROW_KIND = "__row_kind"

csv.field_size_limit(16 * 1024 * 1024)


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


# --- CSV ---------------------------------------------------------------------------------------


def sniff_bytes(path: Path, file_name: str) -> bytes:
    """First bytes of the file, rejecting empty files and files that are not text."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip(b" \t\r\n\xef\xbb\xbf\x00"):
        raise FileRejected("empty_file", f"{file_name}: the file is empty")
    if head.startswith(b"PK\x03\x04"):
        raise FileRejected(
            "unreadable", f"{file_name}: this is an Excel workbook (or another zip file), not CSV"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected("unreadable", f"{file_name}: this is an old-style Excel .xls file, not CSV")
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if control > max(8, len(head) // 20):
        raise FileRejected("unreadable", f"{file_name}: the file is binary, not text")
    return head


def detect_encoding(path: Path, configured: str, head: bytes) -> str:
    """Configured, else UTF-8 (with or without BOM) if the whole file decodes, else Windows-1252."""
    if configured != "auto":
        return configured
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _open_csv(contract: Contract, path: Path, file_name: str, batch_size: int) -> SourceFile:
    head = sniff_bytes(path, file_name)
    encoding = detect_encoding(path, contract.file.encoding, head)
    text_head = head.decode(encoding, errors="replace")
    candidates = [contract.file.delimiter] if contract.file.delimiter != "auto" else [",", ";", "|", "\t"]
    last_error: FileRejected | None = None
    for delimiter in candidates:
        sample = list(enumerate(csv.reader(io.StringIO(text_head, newline=""), delimiter=delimiter), start=1))
        sample = [(n, list(r)) for n, r in sample[:HEADER_SCAN_ROWS]]
        sample = join_header_rows(sample, contract.file.header_rows)
        try:
            header_row, header, columns = _find_header(sample, contract, file_name)
        except FileRejected as exc:
            if last_error is None or (exc.row is not None and last_error.row is None):
                last_error = exc
            continue
        break
    else:
        assert last_error is not None
        raise last_error

    stats = ReadStats()
    check_header(contract, header, file_name)
    check_duplicate_columns(header, columns, file_name)
    rules = _RowRules(contract, header)

    def rows(offset: int = 0, first: int = 1, lines: int = 0) -> Iterator[tuple[int, list[Any]]]:
        """Records from byte ``offset`` on (record ``first``, after ``lines`` lines), numbered."""
        with path.open("rb") as raw:
            raw.seek(offset)
            text_encoding = "utf-8" if offset and encoding == "utf-8-sig" else encoding
            fh = io.TextIOWrapper(raw, encoding=text_encoding, errors="strict", newline="")
            reader = csv.reader(fh, delimiter=delimiter, strict=False)
            try:
                for number, row in enumerate(reader, start=first):
                    if number > header_row:
                        yield number, row
            except UnicodeDecodeError as exc:
                # The decoder works ahead of the csv module: find the line the bad byte is on.
                line = _undecodable_line(path, offset, text_encoding, lines)
                raise FileRejected(
                    "unreadable",
                    f"{file_name}: line {line} cannot be read as {encoding}: byte 0x{exc.object[exc.start]:02x}"
                    " is not a character in it (send the file as UTF-8)",
                    row=line,
                ) from exc
            except csv.Error as exc:
                line = lines + reader.line_num + 1
                raise FileRejected(
                    "unreadable", f"{file_name}: row {line} cannot be read: {exc}", row=line
                ) from exc

    def guarded(offset: int = 0, first: int = 1, lines: int = 0) -> Iterator[tuple[int, list[object]]]:
        return _guard_quotes(rows(offset, first, lines), header, delimiter, file_name)

    mapping = {t: str(header[i]) for t, i in columns.items()}
    used = set(columns.values())
    if FAST_CSV and encoding in ("utf-8", "utf-8-sig") and not rules.active:
        batches = _fast_csv(
            path,
            head,
            header_row,
            header,
            columns,
            delimiter,
            rules.skip_blank,
            stats,
            batch_size,
            guarded,
            file_name,
        )
    else:
        batches = _batched(guarded(), columns, rules, stats, batch_size, text_cells=True)
    return SourceFile(
        name=file_name,
        sheet=None,
        header_row=header_row,
        header=[str(h) for h in header],
        mapping=mapping,
        unmapped=[str(h) for i, h in enumerate(header) if i not in used and str(h).strip()],
        encoding=encoding,
        delimiter=delimiter,
        stats=stats,
        _batches=batches,
    )


def _undecodable_line(path: Path, offset: int, encoding: str, lines: int) -> int:
    """The number of the first line from byte ``offset`` that does not decode (after ``lines``)."""
    with path.open("rb") as raw:
        raw.seek(offset)
        for number, line in enumerate(raw, start=lines + 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return lines + 1


def swallowed_records(cell: str, delimiter: str, width: int) -> bool:
    """Whether a cell holds whole records: a line of it after the first has as many fields as
    the header. That is what a quote opened and never closed does (the csv module reads on to the
    next quote, or the end of the file); a note written over several lines does not."""
    if width < 3 or ("\n" not in cell and "\r" not in cell):
        return False
    return any(line.count(delimiter) >= width - 1 for line in cell.splitlines()[1:])


def _unclosed_quote(file_name: str, row: int, column: object) -> FileRejected:
    return FileRejected(
        "unclosed_quote",
        f"{file_name}: row {row}, column {str(column)[:100]!r}: a quote opens here and is not closed, so the"
        " rows after it would be read as this one cell; close or remove the quote and send the file again",
        row=row,
        column=str(column),
    )


def _guard_quotes(
    rows: Iterator[tuple[int, list[Any]]], header: list[object], delimiter: str, file_name: str
) -> Iterator[tuple[int, list[Any]]]:
    """The csv module's records, refusing the file at a cell that swallowed records."""
    width = len(header)
    for number, row in rows:
        joined = "".join(row)
        if ("\n" in joined or "\r" in joined) and width >= 3:
            for i, cell in enumerate(row):
                if swallowed_records(cell, delimiter, width):
                    raise _unclosed_quote(file_name, number, header[i] if i < width else f"column {i + 1}")
        yield number, row


# --- CSV, fast path ----------------------------------------------------------------------------

# What Python's str.strip() removes: a row is blank when every cell is made of these only.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# UTF-8 files without skip, stop or state-total rules are read by polars (tests turn it off to
# compare both paths).
FAST_CSV = True
_WHITESPACE_ONLY = "^[" + "".join(f"\\x{{{ord(c):X}}}" for c in PY_WHITESPACE) + "]*$"
FAST_BLOCK_BYTES = 2 * 1024 * 1024
# A block with no record boundary in this many bytes (a runaway quote) goes to the csv module;
# kept below the csv module's field_size_limit (set above), so no field polars reads is one the
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


# --- Excel -------------------------------------------------------------------------------------


def check_zip(path: Path, file_name: str) -> None:
    """Reject truncated workbooks and zip bombs before handing the file to openpyxl."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise FileRejected("unreadable", f"{file_name}: not a readable Excel workbook ({exc})") from exc
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
        raise FileRejected(
            "too_large",
            f"{file_name}: the workbook would expand to {total:,} bytes ({total / packed:.0f}x its size); refused",
        )


def _formula_sheet(path: Path, ws: object) -> Any | None:
    """The sheet read for its formulas, if it has any: a formula the workbook holds no computed
    value for (written by a script, never opened in Excel) reads as None with ``data_only``,
    which would pass for a blank cell."""
    import openpyxl

    member = getattr(ws, "_worksheet_path", None)
    if member is None:
        return None
    with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
        tail = b""
        while chunk := fh.read(1 << 20):
            if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                break
            tail = chunk[-4:]
        else:
            return None
    wb = openpyxl.load_workbook(path.open("rb"), read_only=True, data_only=False)
    return wb[ws.title]  # type: ignore[attr-defined]


def _uncomputed_formulas(values: tuple, written: tuple) -> tuple:
    """A row's values, with a formula that has no computed value as its text ('=B2*3')."""
    if None not in values:
        return values
    return tuple(
        w if v is None and isinstance(w, str) and w.startswith("=") else v
        for v, w in zip(values, written + (None,) * (len(values) - len(written)), strict=False)
    )


def check_sheet_size(ws: object, file_name: str) -> None:
    """Refuse a sheet whose declared size is beyond what a submission can be: a few-KB workbook
    can declare 16,384 columns by 1,048,576 rows with one far cell, and reading it would pad every
    row to the full width (an hour of CPU for nothing)."""
    rows, columns = ws.max_row or 0, ws.max_column or 0  # type: ignore[attr-defined]
    if columns > MAX_EXCEL_COLUMNS or rows * columns > MAX_EXCEL_CELLS:
        raise FileRejected(
            "too_large",
            f"{file_name}: sheet {ws.title!r} declares {rows:,} rows by {columns:,} columns"  # type: ignore[attr-defined]
            f" (at most {MAX_EXCEL_COLUMNS:,} columns and {MAX_EXCEL_CELLS:,} cells are read); refused."
            " If the data is smaller, a stray cell far down or to the right makes the sheet this big: delete it",
        )


def _open_excel(contract: Contract, path: Path, file_name: str, batch_size: int) -> SourceFile:
    import openpyxl

    if path.stat().st_size == 0:
        raise FileRejected("empty_file", f"{file_name}: the file is empty")
    check_zip(path, file_name)
    try:
        # A file object, not the path: openpyxl judges paths by extension, and archived files have none.
        wb = openpyxl.load_workbook(path.open("rb"), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise FileRejected(
            "unreadable", f"{file_name}: not a readable Excel workbook ({type(exc).__name__})"
        ) from exc
    wanted = contract.file.sheet if contract.file.sheet is not None else 0
    try:
        ws = wb.worksheets[wanted] if isinstance(wanted, int) else wb[wanted]
    except (IndexError, KeyError):
        sheets = ", ".join(repr(s) for s in wb.sheetnames)
        raise FileRejected(
            "missing_columns", f"{file_name}: no sheet {wanted!r} in the workbook (sheets: {sheets})"
        ) from None

    check_sheet_size(ws, file_name)
    formulas = _formula_sheet(path, ws)

    def numbered(min_row: int = 1) -> Iterator[tuple[int, list[object]]]:
        cells, started = 0, time.monotonic()
        try:
            rows = ws.iter_rows(min_row=min_row, max_col=ws.max_column or None, values_only=True)
            if formulas is not None:
                written = formulas.iter_rows(min_row=min_row, max_col=ws.max_column or None, values_only=True)
                rows = map(_uncomputed_formulas, rows, written)
            for number, row in enumerate(rows, start=min_row):
                # A sheet whose declared size lies is bounded as it is read.
                cells += len(row)
                if cells > MAX_EXCEL_CELLS or (
                    number % 10_000 == 0 and time.monotonic() - started > MAX_EXCEL_SECONDS
                ):
                    raise FileRejected(
                        "too_large",
                        f"{file_name}: sheet {ws.title!r} holds more than {MAX_EXCEL_CELLS:,} cells or takes more than"
                        f" {MAX_EXCEL_SECONDS // 60} minutes to read (at row {number:,}); refused",
                        row=number,
                    )
                yield number, list(row)
        except FileRejected:
            raise
        except Exception as exc:
            raise FileRejected(
                "unreadable", f"{file_name}: the workbook is damaged ({type(exc).__name__})"
            ) from exc

    sample = []
    for number, row in numbered():
        sample.append((number, row))
        if number >= HEADER_SCAN_ROWS:
            break
    sample = join_header_rows(sample, contract.file.header_rows)
    header_row, header, columns = _find_header(sample, contract, file_name)
    stats = ReadStats()
    check_header(contract, header, file_name)
    check_duplicate_columns(header, columns, file_name)
    rules = _RowRules(contract, header)
    mapping = {t: str(header[i]) for t, i in columns.items()}
    used = set(columns.values())
    return SourceFile(
        name=file_name,
        sheet=ws.title,
        header_row=header_row,
        header=[_cell_text(h) or "" for h in header],
        mapping=mapping,
        unmapped=[str(h) for i, h in enumerate(header) if i not in used and h not in (None, "")],
        encoding=None,
        delimiter=None,
        stats=stats,
        _batches=_batched(numbered(header_row + 1), columns, rules, stats, batch_size),
    )


# --- JSON --------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    record: dict[str, object] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[_valid_text(key)] = _valid_text(value) if isinstance(value, str) else value
    return record


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


def _parse_json(text: str, file_name: str) -> object:
    """The document, with long integers kept as the text written, Infinity and NaN as words
    (which are not numbers), duplicate keys and nesting deeper than Python's recursion limit
    refused."""
    try:
        return json.loads(
            text,
            # Python refuses int() of more than 4,300 digits; such a number is kept as its text.
            parse_int=lambda digits: int(digits) if len(digits) <= 100 else digits,
            parse_constant=str,
            object_pairs_hook=_json_object,
        )
    except _DuplicateKey as exc:
        raise FileRejected(
            "duplicate_columns",
            f"{file_name}: a record names the field {str(exc)[:100]!r} twice; which value is meant is unclear",
        ) from None
    except RecursionError:
        raise FileRejected(
            "unreadable", f"{file_name}: the JSON is nested too deeply to be records"
        ) from None
    except json.JSONDecodeError as exc:
        raise FileRejected("unreadable", f"{file_name}: not valid JSON ({exc})") from exc


def _open_json(contract: Contract, path: Path, file_name: str, batch_size: int) -> SourceFile:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise FileRejected("too_large", f"{file_name}: JSON files over {MAX_JSON_BYTES:,} bytes are refused")
    head = sniff_bytes(path, file_name)
    encoding = detect_encoding(path, contract.file.encoding, head)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected("unreadable", f"{file_name}: not valid JSON ({exc})") from exc
    data = _parse_json(text, file_name)
    records = data
    for key in (contract.file.records_path or "").split(".") if contract.file.records_path else []:
        if not isinstance(records, dict) or key not in records:
            raise FileRejected(
                "missing_columns", f"{file_name}: no {contract.file.records_path!r} list in the JSON"
            )
        records = records[key]
    if not isinstance(records, list):
        raise FileRejected("unreadable", f"{file_name}: expected a list of records")
    if not records:
        raise FileRejected("no_data_rows", f"{file_name}: the file has no records")
    header: list[str] = []
    for rec in records:
        if isinstance(rec, dict):
            header.extend(k for k in rec if k not in header)
    # The record keys are the header: map them once (no header row to search for).
    columns, missing = _map_header(list(header), contract)
    if missing:
        raise FileRejected(
            "missing_columns", f"{file_name}: records lack required field(s): {', '.join(missing)}"
        )
    stats = ReadStats()
    check_header(contract, list(header), file_name)
    rules = _RowRules(contract, list(header))

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, rec in enumerate(records, start=1):
            yield number, [rec.get(k) for k in header] if isinstance(rec, dict) else [None] * len(header)

    used = set(columns.values())
    return SourceFile(
        name=file_name,
        sheet=None,
        header_row=0,
        header=header,
        mapping={t: header[i] for t, i in columns.items()},
        unmapped=[h for i, h in enumerate(header) if i not in used],
        encoding=encoding,
        delimiter=None,
        stats=stats,
        _batches=_batched(rows(), columns, rules, stats, batch_size),
    )


def open_source(
    contract: Contract, path: Path, file_name: str | None = None, batch_size: int = 50_000
) -> SourceFile:
    """Open a file the way its contract describes; raises FileRejected if it can't be read so."""
    file_name = file_name or path.name
    if not path.exists() or path.stat().st_size == 0:
        raise FileRejected("empty_file", f"{file_name}: the file is empty")
    opener = {"csv": _open_csv, "excel": _open_excel, "json": _open_json}[contract.file.format]
    return opener(contract, path, file_name, batch_size)
