"""What ``innovation-pipeline check`` finds beyond a contract's own validation: rules on columns
no known header has, and, given a sample file, its header and every marker the contract does not
know. Each problem is one line a data engineer can act on; an empty list means the contract
should load such files without surprises."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from innovation_pipeline.contracts import NUMERIC_TYPES, Contract
from innovation_pipeline.headers import loose_matches
from innovation_pipeline.parsing import parse_numeric
from innovation_pipeline.readers import FileRejected, open_source
from innovation_pipeline.row_filters import missing_columns, norm_header

MARKERS_SHOWN = 8


def contract_columns(contract: Contract) -> list[str]:
    """Every literal column name the contract reads (fields, district, school year)."""
    names = [s for f in contract.fields for s in f.sources]
    d = contract.district.column
    names += [d] if isinstance(d, str) else list(d)
    y = contract.school_year.column
    if y:
        names += [y] if isinstance(y, str) else list(y)
    return names


def check_contract(
    contract: Contract, sample: Path | None = None, notes: list[str] | None = None
) -> list[str]:
    """Problems a load would meet later; with ``sample``, checked against that file. ``notes``
    receives what a person should see but that does not fail (header cells matched loosely)."""
    problems: list[str] = []
    header: list[str] | None = None
    if sample is not None:
        if contract.matches_file(sample.name) is None:
            problems.append(
                f"{sample.name}: the file name does not match file.pattern {contract.file.pattern!r}"
            )
        try:
            source = open_source(contract, sample, batch_size=50_000)
        except FileRejected as exc:
            return [*problems, f"{sample.name}: {exc}"]
        header = source.header
        if notes is not None:
            notes += [
                f"note: {n} (matched after folding case and spaces)"
                for n in loose_matches(contract, source.mapping)
            ]
        problems += _unknown_markers(contract, source)
    known = header if header is not None else contract_columns(contract)
    where = f"the header of {sample.name}" if sample is not None else "any column this contract reads"
    for key, rule in contract.rows.rules():
        for column in missing_columns(rule, list(known)):
            hint = "" if sample is not None else " (add it as a field, or check with --file SAMPLE)"
            problems.append(f"rows.{key}: column {column!r} is not {where}{hint}")
    if header is not None and sample is not None:
        present = {norm_header(c) for c in header}
        for spec in contract.fields:
            absent = not any(norm_header(s) in present for s in spec.sources)
            if absent and not spec.source_patterns:
                problems.append(
                    f"fields.{spec.name}: no column {spec.sources} in {sample.name}; it would load blank"
                )
    return problems


def _unknown_markers(contract: Contract, source) -> list[str]:
    """Values of numeric fields in the sample that a load would quarantine as unknown markers."""
    unknown: dict[str, set[str]] = {}
    unwanted: dict[str, set[str]] = {}
    for batch in source.batches():
        for spec in contract.fields:
            if spec.type not in NUMERIC_TYPES or spec.name not in batch.columns:
                continue
            raw = batch[spec.name].unique()
            # Read as if suppressible, to find markers in a field that does not allow them too.
            as_suppressible = spec.model_copy(update={"suppressible": True, "required": False})
            parsed = parse_numeric(raw, as_suppressible, contract.suppression).frame.with_columns(
                raw.alias("raw")
            )
            for value in parsed.filter(pl.col("error") == "unknown_marker")["raw"].to_list():
                unknown.setdefault(spec.name, set()).add(value.strip())
            if not spec.suppressible:
                for value in parsed.filter(pl.col("suppressed"))["raw"].to_list():
                    unwanted.setdefault(spec.name, set()).add(value.strip())
    lines = []
    for name, values in unknown.items():
        shown = ", ".join(repr(v) for v in sorted(values)[:MARKERS_SHOWN])
        lines.append(
            f"fields.{name}: column {source.mapping.get(name, name)!r} has marker(s) {shown}"
            " that suppression.markers does not list"
        )
    for name, values in unwanted.items():
        shown = ", ".join(repr(v) for v in sorted(values)[:MARKERS_SHOWN])
        lines.append(
            f"fields.{name}: column {source.mapping.get(name, name)!r} has marker(s) {shown}"
            " but the field is not suppressible"
        )
    return lines
