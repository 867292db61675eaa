"""Excel workbooks read with openpyxl, bounded against zip bombs and sheets that lie about their size."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from innovation_pipeline.contracts import Contract
from innovation_pipeline.headers import join_header_rows
from innovation_pipeline.readers.source_file import (
    HEADER_SCAN_ROWS,
    FileRejected,
    ReadStats,
    SourceFile,
    _batched,
    _cell_text,
    _find_header,
    _RowRules,
    check_duplicate_columns,
)
from innovation_pipeline.row_filters import check_header

MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
# Bounds on one sheet of a workbook: a 1,048,576-row sheet of 30 columns is within them.
MAX_EXCEL_COLUMNS = 1_000
MAX_EXCEL_CELLS = 64_000_000
MAX_EXCEL_SECONDS = 45 * 60


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
