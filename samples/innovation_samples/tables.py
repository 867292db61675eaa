"""A submission as rows plus the file it becomes (CSV, Excel or JSON), with exact row numbers.

Program layouts build a :class:`Table`: columns keyed by canonical field (header text per year),
title rows above the header, data rows, and footer rows (notes, "End of Worksheet"). Writers turn
it into bytes and report each data row's ``_source_row`` the way the loader counts it (VOCAB.md):
CSV record number including title and header rows, Excel row number, JSON 1-based record index.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

# Keys that are not contract fields, and the name a quarantine record gives them.
REPORTED_AS = {"district": "district_id", "school_year": "school_year"}
_FIXED_ZIP_TIME = (2024, 7, 1, 0, 0, 0)


@dataclass(frozen=True)
class Defect:
    """A deliberately broken cell and the reason code the loader must give it."""

    key: str  # canonical field, or 'district' / 'school_year'
    source_column: str
    reason_code: str
    description: str
    value: str | None = None  # the cell as written (None for a repeated row)

    @property
    def column(self) -> str:
        return REPORTED_AS.get(self.key, self.key)


@dataclass
class Row:
    """One data row: cell values keyed like the table's columns, and its injected defects."""

    values: dict[str, Any]
    defects: list[tuple[str, str, str]] = field(default_factory=list)  # (key, reason_code, description)

    def spoil(self, key: str, raw: Any, reason_code: str, description: str) -> None:
        """Replace a cell with a bad value the loader must quarantine."""
        if raw is not None:
            self.values[key] = raw
        self.defects.append((key, reason_code, description))


@dataclass
class Table:
    """Columns (key -> header text), title rows, data rows and footer rows of one sheet."""

    columns: dict[str, str]
    rows: list[Row]
    title: list[list[Any]] = field(default_factory=list)
    footer: list[list[Any]] = field(default_factory=list)

    def physical_rows(self) -> list[int]:
        """1-based file row of each data row (title rows, then the header, then the data)."""
        first = len(self.title) + 2
        return list(range(first, first + len(self.rows)))

    def defects(self, source_rows: list[int] | None = None) -> list[tuple[int, Defect]]:
        """Every injected defect with the source row the loader reports it on."""
        numbers = source_rows or self.physical_rows()
        return [
            (
                number,
                Defect(
                    key,
                    self.columns.get(key, key),
                    code,
                    why,
                    _cell_text(row.values.get(key)) if key in self.columns else None,
                ),
            )
            for number, row in zip(numbers, self.rows, strict=True)
            for key, code, why in row.defects
        ]

    def matrix(self) -> list[list[Any]]:
        """Title rows, header and data rows, footer: the sheet as a grid."""
        keys = list(self.columns)
        data = [[row.values.get(k) for k in keys] for row in self.rows]
        return [*self.title, list(self.columns.values()), *data, *self.footer]


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def csv_bytes(table: Table, delimiter: str = ",", encoding: str = "utf-8", newline: str = "\n") -> bytes:
    """The table as delimited text; title and footer rows are written as records too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    for record in table.matrix():
        writer.writerow([_cell_text(v) for v in record])
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, Table | list[list[Any]]]) -> bytes:
    """A workbook with one sheet per entry (a Table, or a plain grid such as a cover sheet).

    openpyxl stamps the save time into the zip entries and docProps; both are pinned so the same
    seed gives the same bytes.
    """
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, content in sheets.items():
        sheet = book.create_sheet(name)
        grid = content.matrix() if isinstance(content, Table) else content
        for r, record in enumerate(grid, start=1):
            for c, value in enumerate(record, start=1):
                if value not in (None, ""):  # a blank cell is an absent cell, as in Excel
                    sheet.cell(row=r, column=c, value=value)
    raw = io.BytesIO()
    book.save(raw)
    return _pin_zip(raw.getvalue())


def _pin_zip(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", b"2024-07-01T00:00:00Z", content)
            target.writestr(zipfile.ZipInfo(info.filename, _FIXED_ZIP_TIME), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def json_bytes(envelope: dict[str, Any], records: list[dict[str, Any]]) -> bytes:
    """A JSON document: the envelope's keys, then ``records``."""
    return json.dumps({**envelope, "records": records}, indent=2, ensure_ascii=False).encode("utf-8")


def json_records(table: Table) -> list[dict[str, Any]]:
    """Data rows as JSON objects keyed by header text; absent (None) cells are left out."""
    return [
        {header: row.values[key] for key, header in table.columns.items() if row.values.get(key) is not None}
        for row in table.rows
    ]
