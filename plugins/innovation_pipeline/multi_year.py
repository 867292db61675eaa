"""Files that hold several school years (``school_year.several``): a KIDS COUNT extract of seven
years, a salary file of thirty-six. Each year's rows land as a submission of their own, so each
year supersedes independently when a later file corrects it, and the marts see one current
version per year.

The file is read once to find the years its rows carry, then landed once per year through the
ordinary loader, keeping only that year's rows (the others are counted as skipped in that
year's submission). The rule for the file-level year: when ``file.pattern`` captures a school
year, it is the latest year the file may carry; rows of later years, and rows whose year cannot
be read, land with the latest year's submission and are quarantined there (``bad_school_year``).
Every row is therefore in exactly one submission: loaded or quarantined.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg

from innovation_pipeline.contracts import Contract
from innovation_pipeline.parsing import header_school_year, parse_school_year, school_year_label
from innovation_pipeline.readers import SCHOOL_YEAR, open_source


def years_in_file(contract: Contract, path: Path, name: str) -> dict[int | None, set[str | None]]:
    """School year -> the texts rows write it with (None: not a readable year)."""
    rule = contract.school_year
    texts: set[str | None] = set()
    for batch in open_source(contract, path, name).batches():
        texts.update(batch[SCHOOL_YEAR].unique().to_list())
    years: dict[int | None, set[str | None]] = {}
    for text in texts:
        year = parse_school_year(text, rule.min_year, rule.max_year)["value"] if text is not None else None
        years.setdefault(year, set()).add(text)
    return years


def _single(contract: Contract) -> Contract:
    """The contract loading the file whole (to record a rejection the ordinary way)."""
    data = contract.model_dump(by_alias=True, exclude_none=True, mode="json")
    data["school_year"]["several"] = False
    return Contract.model_validate(data)


def for_year(contract: Contract, texts: set[str | None], year: int | None = None) -> Contract:
    """The contract keeping only rows whose year cell is one of ``texts``, for ``year``'s load."""
    column = contract.school_year.column
    names = [column] if isinstance(column, str) else list(column or [])
    values = sorted(t for t in texts if t is not None)
    tests: list[dict] = [{"column": n, "in": values} for n in names] if values else []
    if None in texts:
        tests += [{"column": n, "blank": True} for n in names]
    data = contract.model_dump(by_alias=True, exclude_none=True, mode="json")
    year_rule = {"any": tests}
    keep = data["rows"].get("keep") or []
    data["rows"]["keep"] = [{"all": [{"any": keep}, year_rule]}] if keep else [year_rule]
    data["school_year"]["several"] = False
    if year is not None:
        data["school_year"]["year"] = year
    return Contract.model_validate(data)


def plan(contract: Contract, path: Path, name: str, file_year: int | None) -> list[tuple[int | None, set]]:
    """(year, texts) per submission to land, the latest last, with what it must quarantine."""
    years = years_in_file(contract, path, name)
    valid = sorted(y for y in years if y is not None and (file_year is None or y <= file_year))
    if not valid:
        return [(None, {t for texts in years.values() for t in texts})]
    bad = {t for y, texts in years.items() if y not in valid for t in texts}
    return [(y, years[y] | (bad if y == valid[-1] else set())) for y in valid]


def land_years(
    contract: Contract,
    path: Path,
    name: str,
    received_at: dt.datetime | None,
    batch_rows: int,
):
    """Land each school year of a several-years file as its own submission; one result for all.

    A file that cannot be read, whose name does not match, or with no year column goes through
    the ordinary loader whole (``reprocess``: without dispatching here again), which records and
    raises its rejection."""
    from innovation_pipeline.landing import LandingResult, ensure_landing_schema, file_sha256, land_file
    from innovation_pipeline.warehouse import conninfo

    whole = _single(contract)
    match = contract.matches_file(name)
    if match is None:
        return land_file(
            whole, path, original_name=name, received_at=received_at, batch_rows=batch_rows, reprocess=True
        )

    sha = file_sha256(path)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        ensure_landing_schema(conn)
        done = conn.execute(
            "select submission_id, school_year, status from audit.submissions"
            " where source = %s and file_sha256 = %s and file_name = %s and status in ('loaded', 'superseded')"
            " order by school_year",
            (contract.source, sha, name),
        ).fetchall()
    if done:  # a retry of the same delivery: each year landed already
        return combined(contract, name, sha, [], done)
    try:
        parts = contracts_for(contract, path, name)
    except Exception:  # the ordinary loader records why (its safety net included)
        return land_file(
            whole, path, original_name=name, received_at=received_at, batch_rows=batch_rows, reprocess=True
        )
    if not parts:
        return land_file(
            whole, path, original_name=name, received_at=received_at, batch_rows=batch_rows, reprocess=True
        )
    results: list[LandingResult] = []
    for part in parts:
        results.append(
            land_file(
                part,
                path,
                original_name=name,
                received_at=received_at,
                batch_rows=batch_rows,
                reprocess=True,  # the same bytes, once per year: not a duplicate of the year before
            )
        )
    return combined(contract, name, sha, results, [])


def combined(contract: Contract, name: str, sha: str, results: list, done: list | None = None):
    from innovation_pipeline.landing import LandingResult

    if not results and done:
        years = ", ".join(f"{school_year_label(y)} (submission {s})" for s, y, _ in done if y)
        last = done[-1]
        return LandingResult(
            contract.source,
            name,
            sha,
            last[0],
            "loaded",
            school_year=last[1],
            message=f"already landed: {years}",
        )
    last = results[-1]
    years = ", ".join(
        f"{school_year_label(r.school_year) if r.school_year else '?'} (submission {r.submission_id})"
        for r in results
    )
    return LandingResult(
        contract.source,
        name,
        sha,
        last.submission_id,
        "loaded",
        last.submitter,
        last.school_year,
        sum(r.rows_received for r in results),
        sum(r.rows_loaded for r in results),
        sum(r.rows_quarantined for r in results),
        min(r.rows_skipped - (sum(x.rows_received for x in results) - r.rows_received) for r in results),
        [s for r in results for s in r.superseded],
        message=f"{len(results)} school years, each its own submission: {years}",
    )


# --- wide files: one column per school year ------------------------------------------------------


def wide_years(contract: Contract, path: Path, name: str) -> dict[int, dict[str, str]]:
    """School year -> {field: the header cell of that year's column}, from the file's header.

    A column is a year's when a field's pattern matches it; a year missing for some field
    leaves that field blank in that year's rows."""
    rule = contract.school_year
    header = open_source(contract, path, name).header
    years: dict[int, dict[str, str]] = {}
    for spec in contract.fields:
        for pattern in spec.source_patterns:
            for cell in header:
                written = pattern.year_text(" ".join(str(cell).split()))
                year = header_school_year(written, rule.min_year, rule.max_year) if written else None
                if year is not None:
                    years.setdefault(year, {}).setdefault(spec.name, str(cell))
    return dict(sorted(years.items()))


def for_wide_year(contract: Contract, year: int, columns: dict[str, str]) -> Contract:
    """The contract reading one year's columns of a wide file, as a submission for that year."""
    data = contract.model_dump(by_alias=True, exclude_none=True, mode="json")
    for spec in data["fields"]:
        original = contract.field(spec["name"])
        if not original.source_patterns:
            continue
        if spec["name"] in columns:
            spec["source"] = [columns[spec["name"]]]
        else:
            spec["source"], spec["required"] = [f"(no {school_year_label(year)} column)"], False
    data["school_year"]["year"] = year
    return Contract.model_validate(data)


def contracts_for(contract: Contract, path: Path, name: str) -> list[Contract]:
    """The loads a file takes: one, one per row year (``several``) or one per year column."""
    from innovation_pipeline.mapping import filename_school_year

    if contract.school_year.source == "header":
        return [for_wide_year(contract, y, cols) for y, cols in wide_years(contract, path, name).items()]
    if not contract.school_year.several:
        return [contract]
    match = contract.matches_file(name)
    file_year = filename_school_year(contract, match.groupdict().get("school_year") if match else None)
    return [for_year(contract, texts, year) for year, texts in plan(contract, path, name, file_year)]
