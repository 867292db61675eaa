"""Read a submitted file in batches of raw strings, following its contract's layout.

The reader finds the header (below title rows if need be), maps source columns to canonical
fields, drops blank rows, footnotes and anything after an end marker, tags the state-total row,
and yields batches of raw text with each row's number in the file. It never interprets values:
that is :mod:`innovation_pipeline.parsing`'s job. A file that cannot be read as its contract says
raises :class:`FileRejected` with a reason code and a message naming the file (and row or column).

One module a format: :mod:`.csv` (and its polars fast path :mod:`.csv_fast`), :mod:`.excel`,
:mod:`.json`; :mod:`.source_file` holds what they share.
"""

from __future__ import annotations

from pathlib import Path

from innovation_pipeline.contracts import Contract
from innovation_pipeline.readers.csv import _open_csv
from innovation_pipeline.readers.encoding import detect_encoding, sniff_bytes
from innovation_pipeline.readers.excel import _open_excel
from innovation_pipeline.readers.json import _open_json
from innovation_pipeline.readers.source_file import (
    DISTRICT,
    HEADER_SCAN_ROWS,
    ROW_KIND,
    SCHOOL_YEAR,
    FileRejected,
    ReadStats,
    SourceFile,
    _cell_text,
)

__all__ = [
    "DISTRICT",
    "HEADER_SCAN_ROWS",
    "ROW_KIND",
    "SCHOOL_YEAR",
    "FileRejected",
    "ReadStats",
    "SourceFile",
    "_cell_text",
    "detect_encoding",
    "open_source",
    "sniff_bytes",
]


def open_source(
    contract: Contract,
    path: Path,
    file_name: str | None = None,
    batch_size: int = 50_000,
    *,
    fast_csv: bool = True,
) -> SourceFile:
    """Open a file the way its contract describes; raises FileRejected if it can't be read so.

    ``fast_csv=False`` reads every CSV with the csv module (tests compare the two paths).
    """
    file_name = file_name or path.name
    if not path.exists() or path.stat().st_size == 0:
        raise FileRejected("empty_file", f"{file_name}: the file is empty")
    if contract.file.format == "csv":
        return _open_csv(contract, path, file_name, batch_size, fast=fast_csv)
    opener = {"excel": _open_excel, "json": _open_json}[contract.file.format]
    return opener(contract, path, file_name, batch_size)
