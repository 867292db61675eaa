"""A GX validation result in our terms: each expectation's outcome, masked and in plain words.

The runner (:mod:`.runner`) runs the suites; this module reads what GX returned: which column a
check is about, example rows (identified by their row in the file, never by a student; sensitive
values masked), and the catalog's plain-language meaning and message for the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from innovation_pipeline.contracts import Contract
from innovation_pipeline.dq import catalog, masking
from innovation_pipeline.dq.suites import SuiteSpec

MAX_EXAMPLES = 5


@dataclass
class ExpectationOutcome:
    """One evaluated expectation, already masked and explained in plain words."""

    expectation_type: str
    check_id: str
    column_name: str | None
    success: bool
    observed_value: str | None
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    description: str
    message: str | None
    kwargs: dict[str, Any]
    exception_message: str | None
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    """A whole validation: its statistics and every expectation's outcome."""

    suite_name: str
    asset_name: str
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    gx_result_id: str | None
    results: list[ExpectationOutcome]
    error_message: str | None = None


def error_outcome(spec: SuiteSpec, asset_name: str, exc: BaseException) -> SuiteOutcome:
    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    explained = catalog.explain_check("validation_error", {"observed": detail})
    outcome = ExpectationOutcome(
        expectation_type="validation_error",
        check_id="validation_error",
        column_name=None,
        success=False,
        observed_value=detail,
        element_count=None,
        unexpected_count=None,
        unexpected_percent=None,
        description=explained.meaning,
        message=explained.message,
        kwargs={},
        exception_message=detail,
    )
    return SuiteOutcome(spec.name, asset_name, False, 1, 0, 1, None, [outcome], error_message=detail)


def _column_of(kwargs: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if meta.get("column"):
        return str(meta["column"])
    if kwargs.get("column"):
        return str(kwargs["column"])
    for key in ("column_list", "column_A"):
        if kwargs.get(key):
            cols = kwargs[key] if isinstance(kwargs[key], list) else [kwargs[key], kwargs.get("column_B")]
            return ",".join(str(c) for c in cols if c)
    return None


def _examples(result: dict[str, Any], column: str | None, contract: Contract | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    index_rows = result.get("partial_unexpected_index_list") or result.get("unexpected_index_list")
    if index_rows and isinstance(index_rows[0], dict):
        rows = [dict(r) for r in index_rows[:MAX_EXAMPLES]]
    elif (result.get("details") or {}).get("unexpected_rows"):
        rows = [dict(r) for r in result["details"]["unexpected_rows"]]
    elif result.get("partial_unexpected_list"):
        rows = [{column or "value": v} for v in result["partial_unexpected_list"]]
    elif result.get("partial_missing_list"):
        rows = [{"missing": v} for v in result["partial_missing_list"]]
    return [masking.mask_row(_jsonable(r), contract) for r in rows[:MAX_EXAMPLES]]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[str(k)] = v if isinstance(v, str | int | float | bool | type(None)) else str(v)
    return out


def _example_words(examples: list[dict[str, Any]]) -> str:
    words = []
    for row in examples:
        where = row.get("_source_row") or row.get("first_row")
        values = [f"{v}" for k, v in row.items() if k not in {"_source_row", "first_row"}]
        if "repeat_row" in row:
            words.append(f"{row['first_row']} and {row['repeat_row']}")
        elif where is not None:
            words.append(f"row {where}: {', '.join(values)}" if values else f"row {where}")
        else:
            words.append(", ".join(values))
    return "; ".join(words) if words else "(none shown)"


def expectation_outcome(r: Any, contract: Contract | None) -> ExpectationOutcome:
    config = r.expectation_config
    kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
    result = dict(r.result or {})
    meta = dict(config.meta or {})
    column = _column_of(kwargs, meta)
    check_id = catalog.check_key(config.type, meta)
    examples = _examples(result, column, contract) if not r.success else []
    observed = result.get("observed_value")
    count = result.get("unexpected_count")
    if config.type == "unexpected_rows_expectation":
        count = observed
    if result.get("partial_missing_list"):
        observed = ", ".join(str(v) for v in result["partial_missing_list"])
    if (
        column
        and masking.is_sensitive(column, contract)
        and observed is not None
        and check_id != "column_type"
    ):
        observed = masking.MASK
    exception = (
        (r.exception_info or {}).get("exception_message")
        if (r.exception_info or {}).get("raised_exception")
        else None
    )
    values = catalog.check_values(
        column,
        kwargs,
        observed=observed if observed is not None else exception,
        count=count,
        total=result.get("element_count"),
        examples=_example_words(examples),
    )
    explained = catalog.explain_check(check_id, values)
    return ExpectationOutcome(
        expectation_type=config.type,
        check_id=check_id,
        column_name=column,
        success=bool(r.success),
        observed_value=None if observed is None else str(observed),
        element_count=result.get("element_count"),
        unexpected_count=count if isinstance(count, int) else None,
        unexpected_percent=result.get("unexpected_percent"),
        description=config.description or explained.meaning,
        message=None if r.success else explained.message,
        kwargs=_jsonable_kwargs(kwargs),
        exception_message=exception,
        examples=examples,
    )


def _jsonable_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(kwargs, default=str))
