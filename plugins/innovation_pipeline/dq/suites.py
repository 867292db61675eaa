"""Expectation suites: one per source's raw landing (generated from its contract), one per mart.

Suites live in ``expectations/`` as JSON in GX's own suite shape (``name``, ``meta``,
``expectations: [{type, kwargs, meta, description}]``):

- ``expectations/landing/<source>.json``: written by ``python -m innovation_pipeline.dq write-suites``.
  Expectations with ``meta.origin: contract`` are derived from the contract and are regenerated at
  every run, so a contract change can never leave a stale check behind; any other expectation in the
  file is hand-written and kept. A test checks that the committed files match the contracts.
- ``expectations/marts/<model>.json``: hand-written, one per mart table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from innovation_pipeline.contracts import Contract, FieldSpec
from innovation_pipeline.dq.masking import is_sensitive
from innovation_pipeline.raw_schema import PG_TYPES, column_name, key_columns
from innovation_pipeline.warehouse import project_root

META_COLUMNS = ["_submission_id", "_source_row", "row_kind", "state", "district_id", "school_year"]
PARTITION_COLUMN = "_submission_id"
# Row counts outside this band around the same submitter's previous school year are flagged.
ROW_COUNT_LOW, ROW_COUNT_HIGH = 0.5, 2.0


@dataclass
class SuiteSpec:
    """A suite as stored in ``expectations/``: name, where it runs and its expectations."""

    name: str
    meta: dict[str, Any]
    expectations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        body = {"name": self.name, "meta": self.meta, "expectations": self.expectations}
        return json.dumps(body, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> SuiteSpec:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(name=data["name"], meta=data.get("meta", {}), expectations=data.get("expectations", []))


def expectations_dir() -> Path:
    return project_root() / "expectations"


def landing_suite_path(source: str) -> Path:
    return expectations_dir() / "landing" / f"{source}.json"


def landing_suite_name(source: str) -> str:
    return f"landing.{source}"


def raw_types(field_type: str) -> list[str]:
    """The type names GX reports for the column the loader makes of a field type (raw_schema's):
    ``NUMERIC(14, 2)`` for money, with ``NUMERIC`` for a driver that leaves out the precision."""
    pg_type = PG_TYPES[field_type].upper()
    return list(dict.fromkeys([pg_type, pg_type.split("(")[0]]))


def _exp(
    type_: str, kwargs: dict[str, Any], check: str, description: str, column: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"check": check, "origin": "contract"}
    if column:
        # Query-based checks have no column kwarg; the report still names the column they are about.
        meta["column"] = column
    return {"type": type_, "kwargs": kwargs, "meta": meta, "description": description}


def _query(template: str, **parts: sql.Composable) -> str:
    """SQL text for an UnexpectedRowsExpectation; identifiers quoted by psycopg, ``{batch}`` left for GX."""
    return sql.SQL(template).format(batch=sql.SQL("{batch}"), **parts).as_string(None)


def _label(spec: FieldSpec) -> str:
    return spec.name.replace("_", " ")


def _field_expectations(spec: FieldSpec) -> list[dict[str, Any]]:
    col = column_name(spec)
    out = [
        _exp(
            "expect_column_to_exist",
            {"column": col},
            "expect_column_to_exist",
            f"The loaded data has a {_label(spec)} column.",
        ),
        _exp(
            "expect_column_values_to_be_in_type_list",
            {"column": col, "type_list": raw_types(spec.type)},
            "column_type",
            f"{_label(spec).capitalize()} is stored as {spec.type}.",
        ),
    ]
    if spec.required and spec.suppressible:
        # A suppressed cell is null by design; only a null without a marker is a gap.
        out.append(
            _exp(
                "unexpected_rows_expectation",
                {
                    "unexpected_rows_query": _query(
                        "select _source_row from {batch} where {col} is null and {flag} is not true",
                        col=sql.Identifier(col),
                        flag=sql.Identifier(f"{col}__suppressed"),
                    )
                },
                "required_value",
                f"Every row gives {_label(spec)} or a suppression marker.",
                column=col,
            )
        )
    elif spec.required:
        out.append(
            _exp(
                "expect_column_values_to_not_be_null",
                {"column": col},
                "required_value",
                f"Every row gives {_label(spec)}.",
            )
        )
    low, high = spec.min, spec.max
    if spec.type == "rate":
        low = 0.0 if low is None else low
        high = 1.0 if high is None else high
    if low is not None or high is not None:
        kwargs: dict[str, Any] = {"column": col}
        if low is not None:
            kwargs["min_value"] = low
        if high is not None:
            kwargs["max_value"] = high
        out.append(
            _exp(
                "expect_column_values_to_be_between",
                kwargs,
                "value_range",
                f"{_label(spec).capitalize()} is within its allowed range.",
            )
        )
    if spec.type == "category" and spec.allowed:
        out.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": col, "value_set": list(spec.allowed)},
                "allowed_values",
                f"{_label(spec).capitalize()} is one of the program's categories.",
            )
        )
    return out


def _key_expectation(contract: Contract) -> dict[str, Any]:
    cols = key_columns(contract)
    words = " + ".join(k.replace("_", " ") for k in contract.natural_key)
    description = f"Each {words} appears once in a submission."
    if any(is_sensitive(c, contract) for c in cols) or len(cols) > 1:
        # Grouping in SQL keeps key values (which may be student pseudonyms) out of results and Data Docs:
        # only the file's row numbers of the repeats are reported.
        query = _query(
            "select min(_source_row) as first_row, max(_source_row) as repeat_row, count(*) as copies "
            "from {batch} where row_kind = 'district' group by {group} having count(*) > 1",
            group=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        )
        return _exp(
            "unexpected_rows_expectation",
            {"unexpected_rows_query": query},
            "key_unique",
            description,
            column=" + ".join(contract.natural_key),
        )
    return _exp("expect_column_values_to_be_unique", {"column": cols[0]}, "key_unique", description)


def build_landing_suite(contract: Contract) -> SuiteSpec:
    """The contract-derived landing suite for a source."""
    meta = {
        "kind": "landing",
        "source": contract.source,
        "program": contract.program,
        "schema": "raw",
        "table": contract.raw_table,
        "partition_column": PARTITION_COLUMN,
        "generated_from": f"programs/{contract.source}.yml",
    }
    exps: list[dict[str, Any]] = [
        _exp("expect_column_to_exist", {"column": c}, "expect_column_to_exist", f"The loaded data has {c}.")
        for c in META_COLUMNS
    ]
    exps.append(
        _exp(
            "expect_table_row_count_to_be_between",
            {"min_value": {"$PARAMETER": "min_rows"}, "max_value": {"$PARAMETER": "max_rows"}},
            "row_count",
            "The number of rows is in line with the submitter's previous school year.",
        )
    )
    exps.append(
        _exp(
            "expect_column_values_to_be_in_set",
            {"column": "row_kind", "value_set": ["district", "state_total"]},
            "row_kind",
            "Each row is a district row or the state total.",
        )
    )
    exps.append(
        _exp(
            "unexpected_rows_expectation",
            {
                "unexpected_rows_query": (
                    "select _source_row from {batch} where row_kind = 'district' and district_id is null"
                )
            },
            "district_present",
            "Every district row names its district.",
            column="district_id",
        )
    )
    prefix = "[A-Z]{2}" if contract.state == "US" else contract.state
    exps.append(
        _exp(
            "expect_column_values_to_match_regex",
            {"column": "district_id", "regex": f"^{prefix}-[0-9A-Za-z]+$"},
            "district_format",
            "District ids have the canonical form STATE-code.",
        )
    )
    if contract.state != "US":
        exps.append(
            _exp(
                "expect_column_values_to_be_in_set",
                {"column": "state", "value_set": [contract.state]},
                "state_matches",
                f"Every row is about a {contract.state} district.",
            )
        )
    exps.append(
        _exp(
            "expect_column_values_to_be_between",
            {
                "column": "school_year",
                "min_value": contract.school_year.min_year,
                "max_value": contract.school_year.max_year,
            },
            "school_year_range",
            "The school year is within the program's years.",
        )
    )
    for spec in contract.fields:
        exps.extend(_field_expectations(spec))
    exps.append(_key_expectation(contract))
    return SuiteSpec(name=landing_suite_name(contract.source), meta=meta, expectations=exps)


def hand_written(spec: SuiteSpec) -> list[dict[str, Any]]:
    return [e for e in spec.expectations if (e.get("meta") or {}).get("origin") != "contract"]


def landing_suite(contract: Contract) -> SuiteSpec:
    """The suite to run for a source: contract-derived expectations plus the file's hand-written ones."""
    generated = build_landing_suite(contract)
    path = landing_suite_path(contract.source)
    if path.exists():
        generated.expectations.extend(hand_written(SuiteSpec.from_file(path)))
    return generated


def write_landing_suites(contracts: dict[str, Contract]) -> list[Path]:
    """(Re)write ``expectations/landing/<source>.json`` for every contract, keeping hand-written checks."""
    written = []
    for contract in contracts.values():
        path = landing_suite_path(contract.source)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(landing_suite(contract).to_json(), encoding="utf-8")
        written.append(path)
    return written


def mart_suites() -> list[SuiteSpec]:
    """Every mart suite in ``expectations/marts/``."""
    folder = expectations_dir() / "marts"
    return [SuiteSpec.from_file(p) for p in sorted(folder.glob("*.json"))]
