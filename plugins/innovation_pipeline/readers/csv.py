"""CSV files read with the csv module: delimiter and header detection, quote guarding.

UTF-8 files without skip, stop or state-total rules are handed to :mod:`.csv_fast` (polars),
which falls back to the csv-module rows here for anything it would read differently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from innovation_pipeline.contracts import Contract
from innovation_pipeline.headers import join_header_rows
from innovation_pipeline.readers.csv_fast import _fast_csv
from innovation_pipeline.readers.encoding import detect_encoding, sniff_bytes
from innovation_pipeline.readers.quotes import _guard_quotes
from innovation_pipeline.readers.source_file import (
    HEADER_SCAN_ROWS,
    FileRejected,
    ReadStats,
    SourceFile,
    _batched,
    _find_header,
    _RowRules,
    check_duplicate_columns,
)
from innovation_pipeline.row_filters import check_header

csv.field_size_limit(16 * 1024 * 1024)


def _open_csv(
    contract: Contract, path: Path, file_name: str, batch_size: int, *, fast: bool = True
) -> SourceFile:
    """``fast``: UTF-8 files without skip, stop or state-total rules are read by polars."""
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
    if fast and encoding in ("utf-8", "utf-8-sig") and not rules.active:
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
