"""The rows of ``audit.quarantine`` as the loader builds them in batches (one row a problem)."""

from __future__ import annotations

import polars as pl

QUARANTINE_SCHEMA = {
    "submission_id": pl.Int64,
    "source": pl.Utf8,
    "source_row": pl.Int64,
    "sheet": pl.Utf8,
    "column_name": pl.Utf8,
    "field_name": pl.Utf8,
    "reason_code": pl.Utf8,
    "message": pl.Utf8,
    "raw_value": pl.Utf8,
}
QUARANTINE_COLUMNS = list(QUARANTINE_SCHEMA)
RAW_VALUE_LIMIT = 500


def _empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)
