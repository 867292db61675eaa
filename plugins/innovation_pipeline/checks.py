"""Whole-submission checks, run in the database after a file's batches are in.

One district (a submitting district's rows) and one school year per file, and duplicate natural
keys when :class:`~innovation_pipeline.duplicates.KeyTracker` could not find them while loading.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from innovation_pipeline.duplicates import KeyTracker, _sql_duplicates, duplicate_message
from innovation_pipeline.mapping import MappingContext, filename_school_year
from innovation_pipeline.parsing import school_year_label
from innovation_pipeline.quarantine import RAW_VALUE_LIMIT
from innovation_pipeline.readers import DISTRICT, SCHOOL_YEAR


def _quarantine_rows(
    conn: psycopg.Connection,
    ctx: MappingContext,
    rows: list[tuple],
    code: str,
    field_name: str,
    column: str,
    why,
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into audit.quarantine (submission_id, source, source_row, sheet, column_name, field_name,
                reason_code, message, raw_value)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    ctx.submission_id,
                    ctx.contract.source,
                    r[0],
                    ctx.source.sheet,
                    column,
                    field_name,
                    code,
                    f"Row {r[0]}, column '{column}': {why(r)}.",
                    None if r[1] is None else str(r[1])[:RAW_VALUE_LIMIT],
                )
                for r in rows
            ],
        )


def post_load_checks(
    conn: psycopg.Connection, ctx: MappingContext, tracker: KeyTracker | None = None
) -> None:
    """Whole-submission checks, run in the database inside the load transaction.

    Duplicate keys: found here by a self-join of the submission's rows, unless ``tracker`` found
    them while loading.
    """
    c = ctx.contract
    table = sql.Identifier("raw", c.raw_table)
    sub = ctx.submission_id
    assert sub is not None, "post-load checks run on a recorded submission"
    district_col = ctx.source.mapping.get(DISTRICT, "district")

    if c.district.role == "submitter" and ctx.submitter_district is None:
        # The submitting district is the one the file's rows name (most of them, if some differ).
        row = conn.execute(
            sql.SQL(
                "select district_id from {} where _submission_id = %s and district_id is not null"
                " group by district_id order by count(*) desc, district_id limit 1"
            ).format(table),
            (sub,),
        ).fetchone()
        ctx.submitter = ctx.submitter_district = row[0] if row else None
        if ctx.submitter_district:
            moved = conn.execute(
                sql.SQL(
                    "delete from {} where _submission_id = %s and row_kind = 'district' and district_id <> %s"
                    " returning _source_row, district_source_value"
                ).format(table),
                (sub, ctx.submitter_district),
            ).fetchall()
            _quarantine_rows(
                conn,
                ctx,
                moved,
                "district_mismatch",
                "district_id",
                district_col,
                lambda r: f"district {r[1]!r} is not the submitting district {ctx.submitter_district}",
            )

    if c.school_year.source == "column":
        # The year the file stands for: its load's (one year of a several-years file), else the
        # one its name gives (a file named for 2016-17 whose rows say 2023-24 must not replace
        # the real 2023-24 submission), else the year most rows carry.
        named = filename_school_year(c, ctx.key.get("school_year"))
        row = conn.execute(
            sql.SQL(
                "select school_year from {} where _submission_id = %s group by school_year"
                " order by count(*) desc, school_year desc limit 1"
            ).format(table),
            (sub,),
        ).fetchone()
        ctx.school_year = c.school_year.year or named or (row[0] if row else None)
        if ctx.school_year is not None:
            moved = conn.execute(
                sql.SQL(
                    "delete from {} where _submission_id = %s and school_year <> %s returning _source_row, school_year"
                ).format(table),
                (sub, ctx.school_year),
            ).fetchall()
            year_col = ctx.source.mapping.get(SCHOOL_YEAR, "school_year")
            _quarantine_rows(
                conn,
                ctx,
                moved,
                "bad_school_year",
                "school_year",
                year_col,
                lambda r: (
                    f"school year {school_year_label(r[1])} differs from the file's "
                    f"{school_year_label(ctx.school_year)}"
                    + (" (the year its name gives)" if named and not c.school_year.year else "")
                ),
            )

    if tracker is not None and tracker.active:
        return  # duplicates were found while loading
    dupes = _sql_duplicates(conn, c, table, sub)
    if dupes:
        names = " and ".join(c.natural_key)
        _quarantine_rows(
            conn,
            ctx,
            [(r[0], None, r[1]) for r in dupes],
            "duplicate_key",
            ",".join(c.natural_key),
            names,
            lambda r: duplicate_message(r[2], names),
        )
