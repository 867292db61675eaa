"""The columns of ``raw.<source>``: what a contract's fields land as, and their PostgreSQL types."""

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
}


def column_name(spec: FieldSpec) -> str:
    """The raw-table column of a field: student identifiers land only as ``<name>_key``."""
    return f"{spec.name}_key" if spec.type == "student_id" else spec.name


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    """Columns of ``raw.<source>``: lineage, identity, then one (or five) per field.

    Lineage per row is the submission id and the row's place in the file; the file's SHA-256,
    name and archive path are on ``audit.submissions``, once per file (at millions of rows a
    per-row hash was a quarter of the bytes the server stored).
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
        if spec.type == "student_id":
            cols.append((column_name(spec), "text"))
            continue
        cols.append((spec.name, PG_TYPES[spec.type]))
        if spec.suppressible:
            cols += [
                (f"{spec.name}__suppressed", "boolean"),
                (f"{spec.name}__marker", "text"),
                (f"{spec.name}__lower", "numeric"),
                (f"{spec.name}__upper", "numeric"),
            ]
    return cols
