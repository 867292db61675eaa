"""Duplicate natural keys within a submission: found while the batches stream by, or by the database."""

from __future__ import annotations

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from innovation_pipeline.contracts import Contract
from innovation_pipeline.mapping import MappingContext
from innovation_pipeline.quarantine import _empty_problems
from innovation_pipeline.raw_schema import column_name

# Keys a KeyTracker remembers (20 bytes each) before leaving duplicates to the database.
MAX_TRACKED_KEYS = 3_000_000


def duplicate_message(first_row: int, names: str) -> str:
    return f"row {first_row} already has the same {names}; only the first is kept"


def _key_columns(c: Contract) -> list[str]:
    """Raw-table columns that identify a row within a submission (its kind, then the natural key)."""
    return ["row_kind", *(column_name(c.field(k)) if k != "district_id" else k for k in c.natural_key)]


def _sql_duplicates(conn: psycopg.Connection, c: Contract, table: sql.Identifier, sub: int) -> list[tuple]:
    """Delete every row but the first of each natural key; (deleted row, first row) pairs."""
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in _key_columns(c))
    return conn.execute(
        sql.SQL(
            """
            with ranked as (
                select ctid as row_ctid, _source_row,
                       row_number() over (partition by {keys} order by _source_row) as nth,
                       min(_source_row) over (partition by {keys}) as first_row
                from {table} where _submission_id = %s
            )
            delete from {table} t using ranked r
            where t.ctid = r.row_ctid and r.nth > 1
            returning r._source_row, r.first_row
            """
        ).format(keys=keys, table=table),
        (sub,),
    ).fetchall()


class KeyTracker:
    """Duplicate natural keys found while the batches stream by, not by a self-join afterwards.

    A later row with the same natural key as an earlier one never reaches the raw table: it is
    quarantined naming the first row, exactly what the database check did. Within a batch, rows
    are compared on their key values. Across batches, each key's first row is remembered by a
    128-bit fingerprint (two 64-bit hashes with seeds drawn for this load; 20 bytes a key), the
    way the loader already treats equal SHA-256 file digests as the same file: two different keys
    collide with probability about 2^-128 per pair. Rows are never missed: equal keys always have
    equal fingerprints.

    Used only when no whole-submission check can remove rows after loading (a school year or a
    submitting district taken from the rows themselves): those checks run first in the database,
    and the first row of a key must be one they keep, so there the database finds duplicates.
    It also hands over to the database past ``MAX_TRACKED_KEYS`` distinct keys (60 MB).
    """

    def __init__(self, ctx: MappingContext):
        c = ctx.contract
        self.active = c.school_year.source != "column" and not (
            c.district.role == "submitter" and ctx.submitter_district is None
        )
        self.keys = _key_columns(c)
        self.names = " and ".join(c.natural_key)
        self.column = ",".join(c.natural_key)
        self.ctx = ctx
        self.seeds = [int(x) for x in np.random.default_rng().integers(0, 2**62, size=2)]
        self.seen: list[pl.DataFrame] = []  # h1, h2, first_row: each key's first row so far
        self.tracked = 0

    def _fingerprint(self) -> list[pl.Expr]:
        key = pl.struct(self.keys)
        return [key.hash(self.seeds[0]).alias("h1"), key.hash(self.seeds[1]).alias("h2")]

    def check(self, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The batch's rows without later duplicates of a key, and the quarantine rows for those."""
        if not self.active or good.height == 0:
            return good, _empty_problems()
        prints = good.select(pl.col("_source_row").cast(pl.Int32), *self._fingerprint())
        dupes = pl.DataFrame(schema={"_source_row": pl.Int32, "first_row": pl.Int32})
        repeated = prints["h1"].is_duplicated()
        if repeated.any():
            # Rows whose fingerprint repeats within the batch: decided on the key values themselves.
            same = good.filter(repeated).select(
                pl.col("_source_row").cast(pl.Int32),
                pl.struct(self.keys).is_first_distinct().alias("__first"),
                pl.col("_source_row").cast(pl.Int32).min().over(self.keys).alias("first_row"),
            )
            dupes = same.filter(~pl.col("__first")).select("_source_row", "first_row")
        firsts = prints.join(dupes, on="_source_row", how="anti") if dupes.height else prints
        if self.seen:
            # Probe the keys seen so far against this batch's (the small side is the one hashed).
            seen = pl.concat(self.seen, rechunk=False)
            matched = seen.filter(seen["h1"].is_in(firsts["h1"].implode()))
            if matched.height:
                hits = firsts.join(matched, on=["h1", "h2"], how="inner").select("_source_row", "first_row")
                if hits.height:
                    firsts = firsts.join(hits, on="_source_row", how="anti")
                    # A later duplicate in this batch is one of the earlier batch's row too.
                    earlier = hits.rename({"_source_row": "batch_first", "first_row": "earlier"})
                    dupes = pl.concat(
                        [
                            hits,
                            dupes.join(
                                earlier, left_on="first_row", right_on="batch_first", how="left"
                            ).select("_source_row", pl.coalesce("earlier", "first_row").alias("first_row")),
                        ]
                    )
        self.seen.append(firsts.select("h1", "h2", pl.col("_source_row").alias("first_row")))
        self.tracked += firsts.height
        if self.tracked > MAX_TRACKED_KEYS:
            # Memory and probing grow with the keys remembered: past this many, the database's
            # whole-submission check finds the duplicates left (the ones removed so far were
            # never first rows, so it finds the same first rows).
            self.active, self.seen = False, []
        if dupes.height == 0:
            return good, _empty_problems()
        dupes = dupes.sort("_source_row")
        kept = good.filter(~pl.col("_source_row").is_in(dupes["_source_row"].cast(pl.Int64).implode()))
        return kept, self.problems(dupes["_source_row"], dupes["first_row"])

    def problems(self, rows: pl.Series, first_rows: pl.Series) -> pl.DataFrame:
        """Quarantine rows for duplicates, worded as the database check words them."""
        if rows.len() == 0:
            return _empty_problems()
        ctx = self.ctx
        head, tail = duplicate_message(0, self.names).split("row 0", 1)
        message = pl.concat_str(
            pl.lit("Row "),
            pl.col("source_row"),
            pl.lit(f", column '{self.names}': {head}row "),
            pl.col("first_row"),
            pl.lit(tail + "."),
        )
        return pl.DataFrame({"source_row": rows.cast(pl.Int64), "first_row": first_rows}).select(
            pl.lit(ctx.submission_id, dtype=pl.Int64).alias("submission_id"),
            pl.lit(ctx.contract.source, dtype=pl.Utf8).alias("source"),
            "source_row",
            pl.lit(ctx.source.sheet, dtype=pl.Utf8).alias("sheet"),
            pl.lit(self.names, dtype=pl.Utf8).alias("column_name"),
            pl.lit(self.column, dtype=pl.Utf8).alias("field_name"),
            pl.lit("duplicate_key", dtype=pl.Utf8).alias("reason_code"),
            message.alias("message"),
            pl.lit(None, dtype=pl.Utf8).alias("raw_value"),
        )
