"""The tables a load writes to: the landing schema (audit, ref, raw) and each source's ``raw.<source>``.

Both are created once and brought up to date (columns a revised contract adds, tables made by
older versions) without DDL when they are current: DDL locks the tables every load uses.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import psycopg
from psycopg import sql

from innovation_pipeline.contracts import Contract
from innovation_pipeline.crosswalk import load_reference
from innovation_pipeline.raw_schema import raw_columns


def ensure_landing_schema(conn: psycopg.Connection) -> None:
    """Create the audit, ref and raw schemas and tables (idempotent) and load the district directory."""
    ddl = (
        resources.files("innovation_pipeline").joinpath("sql/landing_schema.sql").read_text(encoding="utf-8")
    )
    digest = hashlib.sha256(ddl.encode("utf-8")).hexdigest()
    # DDL only when needed: `create index if not exists` takes a SHARE lock on audit.submissions
    # even when the index exists, so running it per file made every load wait for every load in
    # flight, of any source. A marker of the DDL's content says it ran already.
    if not _landing_schema_current(conn, digest):
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.landing_schema', 0))")
            if not _landing_schema_current(conn, digest):
                conn.execute(ddl)
                conn.execute(
                    "insert into ref.reference_versions (name, content_sha256) values ('landing_schema', %s)"
                    " on conflict (name) do update set content_sha256 = excluded.content_sha256, loaded_at = now()",
                    (digest,),
                )
    load_reference(conn)


_LANDING_TABLES = (
    "audit.files",
    "audit.submissions",
    "audit.quarantine",
    "audit.marts_builds",
    "ref.districts",
)


def _landing_schema_current(conn: psycopg.Connection, digest: str) -> bool:
    """Whether the landing DDL of this content ran (and its tables are still there)."""
    present = conn.execute(
        "select bool_and(to_regclass(t) is not null) from unnest(%s::text[]) t",
        ([*_LANDING_TABLES, "ref.reference_versions"],),
    ).fetchone()[0]  # type: ignore[index]
    if not present:
        return False
    row = conn.execute(
        "select content_sha256 from ref.reference_versions where name = 'landing_schema'"
    ).fetchone()
    return row is not None and row[0] == digest


def ensure_raw_table(conn: psycopg.Connection, contract: Contract) -> None:
    """Create ``raw.<source>`` from the contract, adding columns a revised contract introduces."""
    columns = raw_columns(contract)
    table = sql.Identifier("raw", contract.raw_table)
    if _raw_table_current(conn, contract.raw_table, [n for n, _ in columns]):
        return  # no DDL: `alter table` would lock the table against readers, even as a no-op
    with conn.transaction():
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"innovation.raw.{contract.raw_table}",)
        )
        conn.execute(
            sql.SQL("create table if not exists {} ({})").format(
                table,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
                ),
            )
        )
        for name, pg_type in columns:
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    table, sql.Identifier(name), sql.SQL(pg_type)
                )
            )
        # Tables from before rows stopped carrying the file's hash (it is on audit.submissions).
        conn.execute(
            sql.SQL(
                "do $$ begin if exists (select 1 from information_schema.columns where table_schema = 'raw'"
                " and table_name = {} and column_name = '_file_sha256') then"
                " alter table {} alter column _file_sha256 drop not null; end if; end $$"
            ).format(sql.Literal(contract.raw_table), table)
        )
        # BRIN, not B-tree: a submission's rows arrive in one COPY, so they sit in a run of pages
        # and a block-range index finds them as well, for a fraction of the cost of maintaining a
        # B-tree entry per row (a quarter of the server's work on a 2,000,000-row load). Tables
        # made before keep the B-tree of the same name.
        conn.execute(
            sql.SQL(
                "create index if not exists {} on {} using brin (_submission_id) with (autosummarize = on)"
            ).format(sql.Identifier(f"{contract.raw_table}_submission"), table)
        )


def _raw_table_current(conn: psycopg.Connection, table: str, columns: list[str]) -> bool:
    """Whether ``raw.<table>`` has every column and its index, and no obsolete not-null hash column."""
    row = conn.execute(
        """
        select count(*) filter (where a.attname = any(%(columns)s::text[])) = cardinality(%(columns)s::text[])
               and not bool_or(a.attname = '_file_sha256' and a.attnotnull)
               and to_regclass(format('raw.%%I', %(index)s::text)) is not null
        from pg_attribute a
        where a.attrelid = to_regclass(format('raw.%%I', %(table)s::text)) and a.attnum > 0 and not a.attisdropped
        """,
        {"columns": columns, "table": table, "index": f"{table}_submission"},
    ).fetchone()
    return bool(row and row[0])
