"""Preview a file through a contract without keeping anything: the load itself, rolled back.

By default the whole file goes through exactly the code ``load`` runs (the same reader, mapper,
whole-submission checks and supersession) inside a transaction that is rolled back, so the counts
printed are the ones ``load`` would record. ``sample`` maps only the first rows instead, for a
quick look at a very large file; its counts say so.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from innovation_pipeline import mapping, multi_year
from innovation_pipeline.contracts import Contract
from innovation_pipeline.crosswalk import Crosswalk
from innovation_pipeline.headers import loose_matches
from innovation_pipeline.readers import DISTRICT, SCHOOL_YEAR, FileRejected, SourceFile, open_source
from innovation_pipeline.settings import SettingsError, pseudonym_key

PROBLEMS_SHOWN = 40


def _layout(contract: Contract, path: Path, lines: list[str]) -> SourceFile | None:
    """Header, sheet, encoding and the column mapping, as the reader finds them."""
    try:
        source = open_source(contract, path, batch_size=1)
    except FileRejected as exc:
        lines.append(f"REJECTED  [{exc.code}] {exc}")
        return None
    lines.append(
        f"Layout:   header on row {source.header_row}"
        + (f", sheet {source.sheet!r}" if source.sheet else "")
        + (f", encoding {source.encoding}" if source.encoding else "")
        + (f", delimiter {source.delimiter!r}" if source.delimiter else "")
    )
    lines.append("Columns:")
    for target, column in source.mapping.items():
        label = {DISTRICT: "district", SCHOOL_YEAR: "school_year"}.get(target, target)
        lines.append(f"  {column!r:45} -> {label}")
    if source.unmapped:
        lines.append(f"Ignored:  {', '.join(repr(u) for u in source.unmapped)}")
    for note in loose_matches(contract, source.mapping):
        lines.append(f"NOTE      matched only after folding case, spaces and line breaks: {note}")
    return source


def _table(frame: pl.DataFrame, rows: int) -> str:
    # Lineage and suppression-bound columns would crowd the table; markers stay visible.
    hidden = [
        c
        for c in frame.columns
        if (c.startswith("_") and c != "_source_row") or c.endswith(("__lower", "__upper", "__suppressed"))
    ]
    with pl.Config(tbl_rows=rows, tbl_cols=12, fmt_str_lengths=30, tbl_width_chars=160):
        return str(frame.drop(hidden).head(rows))


def preview(contract: Contract, path: Path, rows: int = 10, sample: int | None = None) -> str:
    """A plain-text report: layout, column mapping, the counts a load would record, the first
    rows as they would land, and every problem (the first ``PROBLEMS_SHOWN`` in full).

    Nothing is kept: the load runs in a transaction that is rolled back, and the file is not
    archived. With ``sample``, only the first ``sample`` data rows are mapped.
    """
    lines = [f"File:     {path.name}", f"Contract: {contract.source} ({contract.title})"]
    if contract.matches_file(path.name) is None:
        lines.append(f"REJECTED  [bad_file_name] the file name does not match {contract.file.pattern!r}")
        return "\n".join(lines)
    source = _layout(contract, path, lines)
    if source is None:
        return "\n".join(lines)
    if sample is not None:
        return "\n".join(lines + _sample(contract, path, rows, sample))
    return "\n".join(lines + _rolled_back_load(contract, path, rows))


def _preview_key() -> bytes:
    """A preview stores nothing: without the deployment's key, any key will do for its pseudonyms."""
    try:
        return pseudonym_key()
    except SettingsError:
        return secrets.token_bytes(32)


def _rolled_back_load(contract: Contract, path: Path, rows: int) -> list[str]:
    from innovation_pipeline import landing
    from innovation_pipeline.warehouse import conninfo

    lines: list[str] = []
    sha = landing.file_sha256(path)
    name = landing.safe_file_name(path.name)
    received_at = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        landing.ensure_landing_schema(conn)
        conn.autocommit = False
        with conn.transaction(force_rollback=True):
            earlier = landing._duplicate_of(conn, contract, sha)
            if earlier is not None:
                lines.append(
                    f"DUPLICATE the same bytes were loaded as submission {earlier}; a load would record"
                    " a duplicate and land nothing. What it would land:"
                )
            landing.ensure_raw_table(conn, contract)
            # Recorded, like everything here, only until the rollback; the file is not archived.
            landing._record_file(conn, sha, path.stat().st_size, name, path)
            try:
                results = [
                    landing._load(conn, c, path, name, sha, received_at, landing.BATCH_ROWS, _preview_key())
                    for c in _contracts_per_load(contract, path, name)
                ]
            except FileRejected as exc:
                lines.append(f"REJECTED  [{exc.code}] {exc}")
                return lines
            result = multi_year.combined(contract, name, sha, results) if len(results) > 1 else results[0]
            if len(results) > 1:
                lines.append(f"Several school years: {result.message}")
            sub = result.submission_id
            subs = [r.submission_id for r in results]
            lines.append(
                f"A load would record: {result.rows_received} rows received, {result.rows_loaded} loaded,"
                f" {result.rows_quarantined} quarantined, {result.rows_skipped} skipped"
                f" (school year {result.school_year}, submitter {result.submitter})"
            )
            if result.superseded:
                lines.append(f"It would supersede submission(s) {', '.join(map(str, result.superseded))}")
            cur = conn.execute(
                sql.SQL("select * from {} where _submission_id = %s order by _source_row limit %s").format(
                    sql.Identifier("raw", contract.raw_table)
                ),
                (sub, rows),
            )
            names = [d.name for d in cur.description or []]
            frame = pl.DataFrame(
                [dict(zip(names, r, strict=True)) for r in cur.fetchall()], infer_schema_length=None
            )
            if frame.height:
                lines.append(f"First {frame.height} rows as they would land:")
                lines.append(_table(frame.cast({c: pl.Utf8 for c in frame.columns}), rows))
            reasons = conn.execute(
                "select reason_code, count(*) from audit.quarantine where submission_id = any(%s)"
                " group by 1 order by 2 desc, 1",
                (subs,),
            ).fetchall()
            if not reasons:
                lines.append("Problems: none")
                return lines
            lines.append("Problems by reason: " + ", ".join(f"{code} {n}" for code, n in reasons))
            for code, message in conn.execute(
                "select reason_code, message from audit.quarantine where submission_id = any(%s)"
                " order by source_row, column_name limit %s",
                (subs, PROBLEMS_SHOWN),
            ):
                lines.append(f"  [{code}] {message}")
            total = sum(n for _, n in reasons)
            if total > PROBLEMS_SHOWN:
                lines.append(f"  ... and {total - PROBLEMS_SHOWN} more")
    return lines


def _contracts_per_load(contract: Contract, path: Path, name: str) -> list[Contract]:
    """What ``load`` lands the file as: once, once per row year or once per year column."""
    return multi_year.contracts_for(contract, path, name)


def _sample(contract: Contract, path: Path, rows: int, sample: int) -> list[str]:
    """The first ``sample`` data rows mapped as a load maps them (without whole-file checks)."""
    from innovation_pipeline.landing import ensure_landing_schema
    from innovation_pipeline.warehouse import connect

    lines: list[str] = []
    match = contract.matches_file(path.name)
    key = {k: v for k, v in match.groupdict().items() if v} if match else {}
    source = open_source(contract, path, batch_size=max(sample, 1))
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        crosswalk = Crosswalk.from_db(conn)
    ctx = mapping.MappingContext(contract, source, crosswalk, key, _preview_key())
    try:
        ctx.resolve_filename_parts()
    except FileRejected as exc:
        return [f"REJECTED  [{exc.code}] {exc}"]
    batch = next(iter(source.batches()), None)
    if batch is None:
        return ["PROBLEM   no data rows after the header"]
    good, problems = mapping.map_batch(ctx, batch)
    bad = problems["source_row"].n_unique() if problems.height else 0
    lines.append(
        f"SAMPLE of the first {batch.height} data rows: {good.height} would load, {bad} would be quarantined"
        " (whole-file checks such as duplicate keys and the school year are not run; drop --sample"
        " for the counts a load records)"
    )
    lines.append(_table(good, rows))
    if problems.height:
        lines.append("Problems:")
        lines += [f"  [{r['reason_code']}] {r['message']}" for r in problems.iter_rows(named=True)]
    return lines
