"""Keep student identifiers out of anything an analyst or program officer can read.

Rules: a column whose name ends in ``_key`` (the loader's HMAC pseudonyms), a column named like a
student id, or a column the contract types ``student_id`` (by canonical or source name) is masked.
Text that a spreadsheet would run as a formula is neutralized before officers can download it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from innovation_pipeline.contracts import Contract
from innovation_pipeline.privacy import MASK

__all__ = ["MASK", "any_sensitive", "is_sensitive", "mask_row", "mask_value", "neutralize_formula"]
_STUDENT_NAME = re.compile(r"(^|_)(student|stu|pupil|learner)_?(id|number|no|sasid|ssid)$")
# A spreadsheet treats a cell starting with these as a formula (CSV/formula injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def student_columns(contract: Contract | None) -> set[str]:
    """Normalized names of every column (canonical, raw and source) that holds a student identifier."""
    names: set[str] = set()
    if contract is None:
        return names
    for field in contract.fields:
        if field.type == "student_id":
            names.update({field.name, f"{field.name}_key", *(_normalize(s) for s in field.sources)})
    return names


def is_sensitive(column: str | None, contract: Contract | None = None) -> bool:
    """Whether values of this column must never be shown."""
    if not column:
        return False
    norm = _normalize(column)
    return norm.endswith("_key") or bool(_STUDENT_NAME.search(norm)) or norm in student_columns(contract)


def mask_row(row: Mapping[str, Any], contract: Contract | None = None) -> dict[str, Any]:
    """A copy of ``row`` with sensitive columns replaced by a marker."""
    return {k: (MASK if is_sensitive(k, contract) else v) for k, v in row.items()}


def mask_value(column: str | None, value: Any, contract: Contract | None = None) -> Any:
    """The value, or the mask marker when the column is sensitive."""
    return MASK if value is not None and is_sensitive(column, contract) else value


def any_sensitive(columns: Iterable[str | None], contract: Contract | None = None) -> bool:
    return any(is_sensitive(c, contract) for c in columns)


def neutralize_formula(value: Any) -> Any:
    """Prefix text a spreadsheet would evaluate (``=HYPERLINK(...``) with a quote so it stays text.

    A plain number (``-5``, ``+3.2``) is left as it is: a spreadsheet reads it as the number.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _is_plain_number(value):
        return "'" + value
    return value


def _is_plain_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")
