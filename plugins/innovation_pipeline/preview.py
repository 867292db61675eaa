"""Preview a file through a contract without loading it: the mapping and every problem found."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from innovation_pipeline import mapping
from innovation_pipeline.contracts import Contract
from innovation_pipeline.crosswalk import Crosswalk
from innovation_pipeline.readers import DISTRICT, SCHOOL_YEAR, FileRejected, open_source
from innovation_pipeline.settings import pseudonym_key


def preview(contract: Contract, path: Path, rows: int = 10) -> str:
    """A plain-text report: layout found, column mapping, the first rows as they would land, problems.

    Reads the district directory from the warehouse but writes nothing.
    """
    from innovation_pipeline.landing import ensure_landing_schema
    from innovation_pipeline.warehouse import connect

    lines = [f"File:     {path.name}", f"Contract: {contract.source} ({contract.title})"]
    key = {}
    match = contract.matches_file(path.name)
    if match is None:
        lines.append(
            f"PROBLEM   the file name does not match {contract.file.pattern!r}; a load would reject it"
        )
    else:
        key = {k: v for k, v in match.groupdict().items() if v}
    try:
        source = open_source(contract, path, batch_size=max(rows, 1))
    except FileRejected as exc:
        lines.append(f"REJECTED  [{exc.code}] {exc}")
        return "\n".join(lines)
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
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        crosswalk = Crosswalk.from_db(conn)
    ctx = mapping.MappingContext(contract, source, crosswalk, key, pseudonym_key())
    try:
        ctx.resolve_filename_parts()
    except FileRejected as exc:
        lines.append(f"REJECTED  [{exc.code}] {exc}")
        return "\n".join(lines)
    batch = next(iter(source.batches()), None)
    if batch is None:
        lines.append("PROBLEM   no data rows after the header")
        return "\n".join(lines)
    good, problems = mapping.map_batch(ctx, batch)
    # Lineage and suppression-bound columns would crowd the table; markers stay visible.
    hidden = [
        c
        for c in good.columns
        if (c.startswith("_") and c != "_source_row") or c.endswith(("__lower", "__upper", "__suppressed"))
    ]
    shown = good.drop(hidden)
    with pl.Config(tbl_rows=rows, tbl_cols=12, fmt_str_lengths=30, tbl_width_chars=160):
        lines.append(
            f"First {batch.height} data rows: {good.height} would load, "
            f"{problems['source_row'].n_unique() if problems.height else 0} would be quarantined"
        )
        lines.append(str(shown))
    if problems.height:
        lines.append("Problems:")
        lines += [f"  [{r['reason_code']}] {r['message']}" for r in problems.iter_rows(named=True)]
    else:
        lines.append("Problems: none in these rows (duplicate keys are checked on load)")
    return "\n".join(lines)
