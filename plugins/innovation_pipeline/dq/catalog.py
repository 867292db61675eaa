"""The plain-language catalog: what a check, a quarantine reason or a file rejection means to an officer."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

# GX expectation types map onto catalog checks when an expectation carries no meta.check.
TYPE_TO_CHECK = {
    "expect_column_to_exist": "expect_column_to_exist",
    "expect_column_values_to_be_in_type_list": "column_type",
    "expect_column_values_to_be_of_type": "column_type",
    "expect_column_values_to_not_be_null": "required_value",
    "expect_column_values_to_be_between": "value_range",
    "expect_column_values_to_be_in_set": "allowed_values",
    "expect_column_values_to_be_unique": "key_unique",
    "expect_compound_columns_to_be_unique": "key_unique",
    "expect_select_column_values_to_be_unique_within_record": "key_unique",
    "expect_table_row_count_to_be_between": "row_count",
    "expect_column_values_to_match_regex": "district_format",
    "expect_column_distinct_values_to_contain_set": "all_programs_present",
}


@dataclass(frozen=True)
class Explanation:
    """One catalog entry, filled in for a particular result."""

    key: str
    title: str
    meaning: str
    why: str
    fix: str
    message: str = ""


@cache
def catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """The catalog as loaded from ``catalog.yml`` (package data)."""
    text = resources.files("innovation_pipeline.dq").joinpath("catalog.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


class _Blank(dict):
    # A template placeholder with no value renders as a neutral word, never as "{min}" or "None".
    def __missing__(self, key: str) -> str:
        return "(not given)"


def _fill(template: str, values: dict[str, Any]) -> str:
    clean = {k: _words(v) for k, v in values.items() if v is not None}
    return string.Formatter().vformat(template, (), _Blank(clean))


def _words(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_values(
    column: str | None,
    kwargs: dict[str, Any] | None,
    *,
    observed: Any = None,
    count: Any = None,
    total: Any = None,
    examples: str | None = None,
) -> dict[str, Any]:
    """Placeholder values for a check's catalog text, from its GX kwargs and result."""
    kwargs = kwargs or {}
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        expected = f"between {_words(low)} and {_words(high)}"
    elif low is not None:
        expected = f"at least {_words(low)}"
    elif high is not None:
        expected = f"at most {_words(high)}"
    else:
        expected = None
    return {
        "column": (column or "").replace("_", " ") or None,
        "count": count,
        "total": total,
        "min": low,
        "max": high,
        "expected": expected,
        "allowed": kwargs.get("value_set") or kwargs.get("type_list"),
        "observed": observed,
        "examples": examples,
    }


def check_key(expectation_type: str, meta: dict[str, Any] | None = None) -> str:
    """The catalog key for an expectation: its ``meta.check``, else a mapping of its GX type."""
    explicit = (meta or {}).get("check")
    if explicit and explicit in catalog()["checks"]:
        return str(explicit)
    return TYPE_TO_CHECK.get(expectation_type, "unknown")


def explain_check(key: str, values: dict[str, Any] | None = None) -> Explanation:
    """The catalog entry for a check, with its placeholders filled from ``values``."""
    entries = catalog()["checks"]
    entry = entries.get(key) or entries["unknown"]
    values = values or {}
    return Explanation(
        key=key if key in entries else "unknown",
        **{f: _fill(entry[f], values) for f in ("title", "meaning", "why", "fix", "message")},
    )


def explain_reason(code: str) -> Explanation:
    """The catalog entry for a row quarantine reason code."""
    entries = catalog()["reasons"]
    entry = entries.get(code)
    if entry is None:
        return Explanation(code, f"Row problem: {code.replace('_', ' ')}", "", "", "Ask the data team.")
    return Explanation(code, entry["title"], "", entry["why"], entry["fix"])


def rejection_code(message: str | None, status: str | None = None, code: str | None = None) -> str:
    """The rejection code: the recorded one, else the code the message starts with (``missing_columns: ...``)."""
    if status == "duplicate":
        return "duplicate"
    if code and code in catalog()["rejections"]:
        return code
    head = (message or "").strip().split(":", 1)[0].split(None, 1)
    code = head[0].strip().lower() if head else ""
    return code if code in catalog()["rejections"] else "unknown"


def explain_rejection(
    message: str | None, status: str | None = None, code: str | None = None, file_format: str | None = None
) -> Explanation:
    """The catalog entry for a rejected (or duplicate) file, from its reason code or message.

    An entry may word its fix per file format (``by_format``): a JSON file has records, not a header.
    """
    code = rejection_code(message, status, code)
    entry = catalog()["rejections"][code]
    entry = {**entry, **(entry.get("by_format") or {}).get(file_format or "", {})}
    return Explanation(code, entry["title"], "", entry["why"], entry["fix"], message or "")
