"""Row rules of a contract (``rows.stop_at``, ``skip``, ``keep``, ``state_total``) compiled
against a file's header and applied to every row, whatever its kind.

A rule names its columns as the header writes them; a rule on a column the header lacks is a
rejection when the file is opened (a filter that silently never matches lands rows it was meant
to drop), and ``check`` reports it before any file arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from innovation_pipeline.contracts import Contract, RowMatch, SourcePattern

Cell = object
Test = Callable[[list[object]], bool]
_NUMBER_NOISE = re.compile(r"[,\s$%]")


def norm_header(value: object) -> str:
    """A header cell as rules and aliases compare it: BOM, case and runs of whitespace folded."""
    return " ".join(str(value).replace("\ufeff", "").split()).lower() if value is not None else ""


def as_number(text: str) -> Decimal | None:
    """A cell read as a number for gt/ge/lt/le ('1,204', '85%', '$12'), or None."""
    cleaned = _NUMBER_NOISE.sub("", text)
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _cell_test(rule: RowMatch) -> Callable[[str | None], bool]:
    """All of a rule's tests on one cell's text (None for a missing cell)."""
    checks: list[Callable[[str | None], bool]] = []
    tests = rule.tests
    if "blank" in tests:
        want = bool(tests["blank"])
        checks.append(lambda v: (v is None or not v.strip()) is want)
    if "equals" in tests:
        target = str(tests["equals"]).strip().lower()
        checks.append(lambda v: v is not None and v.strip().lower() == target)
    if "in" in tests:
        options = {str(o).strip().lower() for o in tests["in"]}  # type: ignore[attr-defined]
        checks.append(lambda v: v is not None and v.strip().lower() in options)
    if "matches" in tests:
        pattern = re.compile(str(tests["matches"]), re.IGNORECASE)
        checks.append(lambda v: v is not None and bool(pattern.search(v)))
    for op, compare in (
        ("gt", Decimal.__gt__),
        ("ge", Decimal.__ge__),
        ("lt", Decimal.__lt__),
        ("le", Decimal.__le__),
    ):
        if op in tests:
            bound = Decimal(str(tests[op]))

            def numeric(v: str | None, bound: Decimal = bound, compare=compare) -> bool:
                number = None if v is None else as_number(v)
                return number is not None and bool(compare(number, bound))

            checks.append(numeric)
    return lambda v: all(check(v) for check in checks)


def missing_columns(rule: RowMatch, header: list[object]) -> list[str]:
    """Columns a rule names that the header does not have."""
    known = {norm_header(c) for c in header}
    return [c for c in rule.columns() if c is not None and norm_header(c) not in known]


def compile_rule(rule: RowMatch, positions: dict[str, int]) -> Test:
    """A predicate on a row (a list of cells) for one rule, columns resolved through ``positions``."""
    if rule.all_ is not None:
        parts = [compile_rule(r, positions) for r in rule.all_]
        return lambda row: all(p(row) for p in parts)
    if rule.any_ is not None:
        parts = [compile_rule(r, positions) for r in rule.any_]
        return lambda row: any(p(row) for p in parts)
    if rule.not_ is not None:
        inner = compile_rule(rule.not_, positions)
        return lambda row: not inner(row)
    test = _cell_test(rule)
    if rule.column is None:

        def first_cell(row: list[object]) -> bool:
            cell = next((c for c in row if c not in (None, "")), None)
            return cell is not None and test(_text(cell))

        return first_cell
    idx = positions.get(norm_header(rule.column), -1)

    def on_column(row: list[object]) -> bool:
        cell = row[idx] if 0 <= idx < len(row) else None
        return test(None if cell is None else _text(cell))

    return on_column


def _text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


class RowRules:
    """Skip, keep, stop and state-total rules compiled against the header."""

    def __init__(self, contract: Contract, header: list[object]):
        positions = {norm_header(c): i for i, c in reversed(list(enumerate(header)))}
        rows = contract.rows
        self.skip_blank = rows.skip_blank
        self.skip = [compile_rule(r, positions) for r in rows.skip]
        self.keep = [compile_rule(r, positions) for r in rows.keep]
        self.stop = [compile_rule(r, positions) for r in rows.stop_at]
        self.total = compile_rule(rows.state_total, positions) if rows.state_total else None

    @property
    def active(self) -> bool:
        """Whether any rule looks at rows (the fast CSV path reads files with none)."""
        return bool(self.skip or self.keep or self.stop or self.total)

    def classify(self, row: list[object]) -> str:
        """'data', 'state_total', 'blank', 'skip', 'not_kept' or 'stop'."""
        if self.skip_blank and not any(c is not None and str(c).strip() for c in row):
            return "blank"
        if any(r(row) for r in self.stop):
            return "stop"
        if any(r(row) for r in self.skip):
            return "skip"
        if self.keep and not any(r(row) for r in self.keep):
            return "not_kept"
        if self.total and self.total(row):
            return "state_total"
        return "data"


def check_header(contract: Contract, header: list[object], file_name: str) -> None:
    """Reject a file whose header lacks a column a row rule reads."""
    from innovation_pipeline.readers import FileRejected

    for key, rule in contract.rows.rules():
        missing = missing_columns(rule, header)
        if missing:
            raise FileRejected(
                "missing_columns",
                f"{file_name}: the rows.{key} rule reads column(s) {', '.join(repr(m) for m in missing)}"
                " that the header does not have",
                column=missing[0],
            )


def pattern_column(pattern: SourcePattern, header: list[object]) -> int | None:
    """The first header cell a year-named column pattern matches (the whole cell), or None."""
    for i, cell in enumerate(header):
        if cell is not None and pattern.year_text(" ".join(str(cell).replace("\ufeff", "").split())):
            return i
    return None
