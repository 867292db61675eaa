"""A quote opened and never closed: the csv module would read the rows after it as one cell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from innovation_pipeline.readers.source_file import FileRejected


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
