"""The columns of ``raw.<source>``: what a contract's fields land as, and their PostgreSQL types.

The one owner of the raw layout: the loader creates the tables from it, and the landing suites
(``dq/suites.py``) check the columns and types it names.
"""

from __future__ import annotations

from innovation_pipeline.contracts import Contract, FieldSpec

PG_TYPES = {
    "text": "text",
    "category": "text",
    "integer": "bigint",
    "number": "numeric",
    "rate": "numeric",
    "money": "numeric(14, 2)",
    "date": "date",
    "boolean": "boolean",
    "student_id": "text",  # the pseudonym (column_name), never the identifier
}


def column_name(spec: FieldSpec) -> str:
    """The raw-table column of a field: student identifiers land only as ``<name>_key``."""
    return f"{spec.name}_key" if spec.type == "student_id" else spec.name


def key_columns(contract: Contract) -> list[str]:
    """The raw-table columns of the contract's natural key."""
    return [column_name(contract.field(k)) if k != "district_id" else k for k in contract.natural_key]


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    """Columns of ``raw.<source>``: lineage, identity, then one (or five) per field.

    Lineage per row is the submission id and the row's place in the file; the file's SHA-256,
    name and archive path are on ``audit.submissions``, once per file (a per-row hash was a large
    share of the bytes the server stored at millions of rows).
    """
    cols = [
        ("_submission_id", "bigint not null"),
        ("_sheet", "text"),
        ("_source_row", "integer not null"),
        ("_loaded_at", "timestamptz not null default now()"),
        ("row_kind", "text not null"),
        ("state", "text"),
        ("district_id", "text"),
        ("district_source_value", "text"),
        ("school_year", "smallint"),
    ]
    for spec in contract.fields:
        cols.append((column_name(spec), PG_TYPES[spec.type]))
        if spec.suppressible and spec.type != "student_id":
            cols += [
                (f"{spec.name}__suppressed", "boolean"),
                (f"{spec.name}__marker", "text"),
                (f"{spec.name}__lower", "numeric"),
                (f"{spec.name}__upper", "numeric"),
            ]
    return cols
