"""Header shapes beyond one plain row: a merged group header above the column header, and header
cells that match a contract's names only once case, spaces and line breaks are folded."""

from __future__ import annotations

from typing import Any

from innovation_pipeline.contracts import Contract


def join_header_rows(rows: list[tuple[int, list[Any]]], span: int) -> list[tuple[int, list[Any]]]:
    """Rows as the header finder should see them when the header spans ``span`` rows.

    Each row becomes its own cells prefixed by the ``span - 1`` rows above it, a merged group
    cell carried right until the next one ('Graduation Rate' over '2023' and '2024' gives
    'Graduation Rate 2023', 'Graduation Rate 2024'), so the row that ends the header holds
    unambiguous names. Rows keep their numbers: data starts below the last header row.
    """
    if span <= 1:
        return rows
    by_number = dict(rows)
    joined = []
    for number, row in rows:
        above = [by_number.get(number - k, []) for k in range(span - 1, 0, -1)]
        width = max([len(row), *(len(a) for a in above)])
        filled = [_carry_right(a, width) for a in above]
        cells = []
        for i in range(width):
            parts = [str(f[i]).strip() for f in filled if f[i] not in (None, "")]
            own = row[i] if i < len(row) else None
            if own not in (None, ""):
                parts.append(str(own).strip())
            cells.append(" ".join(parts) if parts else None)
        joined.append((number, cells))
    return joined


def _carry_right(row: list[object], width: int) -> list[object]:
    out, last = [], None
    for i in range(width):
        cell = row[i] if i < len(row) else None
        if cell not in (None, ""):
            last = cell
        out.append(last)
    return out


def loose_matches(contract: Contract, mapping: dict[str, str]) -> list[str]:
    """Columns that match the contract's name for them only after folding case, spaces and line
    breaks ('Total ' for 'Total', 'District\\nName' for 'District Name'): reported, so that a
    person sees which header cell was taken for which field."""
    from innovation_pipeline.readers import DISTRICT, SCHOOL_YEAR  # readers imports this module

    lines = []
    for target, written in mapping.items():
        if target == DISTRICT:
            d = contract.district.column
            names = [d] if isinstance(d, str) else list(d)
        elif target == SCHOOL_YEAR:
            y = contract.school_year.column or []
            names = [y] if isinstance(y, str) else list(y)
        else:
            spec = next((f for f in contract.fields if f.name == target), None)
            if spec is None or not spec.sources:
                continue
            names = spec.sources
        if written not in names:
            label = {DISTRICT: "district", SCHOOL_YEAR: "school_year"}.get(target, target)
            lines.append(f"{label}: header {written!r} taken for {' or '.join(repr(n) for n in names)}")
    return lines
