"""The program-officer report: a static HTML site built from the audit trail and the ``dq`` schema.

One page per program and school year (who submitted, on time or late, which checks failed in plain
words, quarantined rows with a CSV download), a district-by-year status grid, and a front page
summarizing every program, the marts' validation and recent pipeline failures.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from innovation_pipeline import access, settings, warehouse
from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.dq import file_names, masking
from innovation_pipeline.dq.report_data import Program, ReportData, Submission
from innovation_pipeline.dq.runner import data_docs_dir
from innovation_pipeline.parsing import school_year_label

GRID_LABELS = {
    "ok": "Loaded on time, no problems",
    "late": "Loaded late, no problems",
    "problems": "Loaded, with problems to fix",
    "rejected": "File not accepted",
    "none": "Nothing received",
}


def page_name(year: int | None) -> str:
    return f"{year}.html" if year is not None else "unknown-year.html"


def plural(count: Any, word: str, words: str | None = None) -> str:
    """'1 problem', '3 problems', '1,204 rows' (``words`` for an irregular plural)."""
    n = int(count or 0)
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def slug(text: str) -> str:
    """A file-name-safe form of a submitter or file name: 'Allen County (KY-005)' -> 'Allen-County-KY-005'."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
    return "-".join(part for part in cleaned.split("-") if part)[:80] or "file"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("innovation_pipeline.dq", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sy"] = school_year_label
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else (v or "")
    env.filters["day"] = lambda v: v.isoformat() if isinstance(v, dt.date) else (v or "")
    env.filters["num"] = lambda v: f"{int(v):,}" if isinstance(v, int | float) else ("0" if v is None else v)
    env.filters["plural"] = plural
    return env


def _active(subs: list[Submission]) -> Submission | None:
    """The submission that counts for a submitter and year: the loaded one, else the latest received."""
    loaded = [s for s in subs if s.row["status"] == "loaded"]
    pool = loaded or [s for s in subs if s.row["status"] != "duplicate"] or subs
    return max(pool, key=lambda s: (s.row["received_at"], s.id)) if pool else None


def anchor(sub: Submission) -> str:
    """Where a submission is on its school year's page: its 'what needs fixing' section, else its row."""
    has_section = sub.has_problems and sub.row["status"] != "duplicate"
    return f"submission-{sub.id}" if has_section else f"row-{sub.id}"


def status_grid(subs: list[Submission], program: str = "") -> dict[str, Any]:
    """Submitter x school year cells, each coloured by its active submission and linking to it.

    ``href`` is relative to the program's folder; the front page prefixes the program folder.
    """
    years = sorted({s.row["school_year"] for s in subs if s.row["school_year"] is not None})
    cells: dict[tuple[str, int], list[Submission]] = defaultdict(list)
    for s in subs:
        if s.row["school_year"] is not None:
            cells[(s.submitter_name, s.row["school_year"])].append(s)
    submitters = sorted({name for name, _ in cells})
    rows = []
    for name in submitters:
        row = []
        for year in years:
            active = _active(cells.get((name, year), []))
            status = active.grid_status if active else "none"
            row.append(
                {
                    "year": year,
                    "status": status,
                    "label": GRID_LABELS[status],
                    "late": bool(active and active.row.get("is_late")),
                    "href": f"{page_name(year)}#{anchor(active)}" if active else None,
                }
            )
        rows.append({"submitter": name, "cells": row})
    return {"years": years, "rows": rows, "labels": GRID_LABELS, "program": program}


def _counts(subs: list[Submission]) -> dict[str, int]:
    received = [s for s in subs if s.row["status"] != "duplicate"]
    return {
        "files": len(subs),
        "submitters": len({s.submitter_name for s in received}),
        "on_time": sum(1 for s in received if s.row.get("is_late") is False),
        "late": sum(1 for s in received if s.row.get("is_late")),
        "rejected": sum(1 for s in subs if s.row["status"] == "rejected"),
        "duplicates": sum(1 for s in subs if s.row["status"] == "duplicate"),
        "failed_validation": sum(1 for s in subs if s.failed_checks),
        "rows_received": sum(
            int(s.row.get("rows_received") or 0) for s in subs if s.row["status"] != "duplicate"
        ),
        "rows_loaded": sum(
            int(s.row.get("rows_loaded") or 0) for s in subs if s.row["status"] != "duplicate"
        ),
        "rows_quarantined": sum(
            int(s.row.get("rows_quarantined") or 0) for s in subs if s.row["status"] != "duplicate"
        ),
        "with_problems": sum(1 for s in subs if s.has_problems and s.row["status"] != "duplicate"),
    }


def download_name(sub: Submission, taken: set[str]) -> str:
    """'<submitter>_<file>_set-aside-rows.csv', unique in its folder (a resent file of the same name
    gets its submission number)."""
    stem = Path(sub.row.get("file_name") or "file").stem
    name = f"{slug(sub.submitter_name)}_{slug(stem)}_set-aside-rows.csv"
    if name in taken:
        name = f"{slug(sub.submitter_name)}_{slug(stem)}_{sub.id}_set-aside-rows.csv"
    taken.add(name)
    return name


def write_quarantine_csv(data: ReportData, sub: Submission, folder: Path, name: str) -> str:
    """All quarantined rows of a submission as CSV, masked, with formula text neutralized.

    Every row names the submitter and the file, so rows from several downloads can be pasted
    together and still say where they came from.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["submitted by", "file", "row in file", "sheet", "column", "problem", "message", "value as sent"]
        )
        for r in data.quarantine_rows(sub.id):
            writer.writerow(
                [
                    masking.neutralize_formula(v)
                    for v in (
                        sub.submitter_name,
                        sub.row.get("file_name"),
                        r["source_row"],
                        r["sheet"],
                        r["column_name"],
                        r["reason_title"],
                        r["message"],
                        r["raw_value"],
                    )
                ]
            )
    return name


def submitter_code(sub: Submission) -> str | None:
    """The submitter as the file name writes it: 'KY-005' -> '005' (the loader stores district ids)."""
    submitter = sub.row.get("submitter")
    state = sub.row.get("state")
    if submitter and state and str(submitter).startswith(f"{state}-"):
        return str(submitter)[len(state) + 1 :]
    return str(submitter) if submitter else None


def annotate(program: Program, subs: list[Submission], fallback_year: int | None) -> None:
    """Mark the files a later one replaced, and the name a corrected file should have."""
    groups: dict[tuple[str, int | None], list[Submission]] = defaultdict(list)
    for s in subs:
        groups[(s.submitter_name, s.row["school_year"])].append(s)
    for group in groups.values():
        active = _active(group)
        for s in group:
            later = (
                active is not None and active is not s and active.row["received_at"] >= s.row["received_at"]
            )
            s.replaced = s.row["status"] == "superseded" or (s.row["status"] == "rejected" and later)
    for s in subs:
        contract = program.sources.get(s.row["source"])
        if contract is None:
            continue
        s.expected_file_name = file_names.expected_name(
            contract.file.pattern,
            s.row.get("file_name"),
            submitter_code(s),
            s.row["school_year"] or fallback_year,
        )


def action_items(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One list across programs of who must fix what: every submission that counts (not replaced by a
    later file, not a duplicate) with a problem, with what to fix and the name to send it under."""
    items = []
    for summary in summaries:
        program: Program = summary["program"]
        for s in summary["subs"]:
            if not s.has_problems or s.replaced or s.row["status"] == "duplicate":
                continue
            what = []
            if s.rejection:
                what.append(f"File not accepted: {s.rejection.title[0].lower()}{s.rejection.title[1:]}")
            if s.row.get("rows_quarantined"):
                what.append(f"{plural(s.row['rows_quarantined'], 'row')} set aside")
            what += [c["explained"].title for c in s.failed_checks]
            items.append(
                {
                    "program": program,
                    "year": s.row["school_year"],
                    "submitter": s.submitter_name,
                    "file_name": s.row.get("file_name"),
                    "send_as": s.expected_file_name,
                    "what": what,
                    "href": f"{program.program}/{page_name(s.row['school_year'])}#submission-{s.id}",
                    "submission_id": s.id,
                }
            )
    return sorted(items, key=lambda i: (i["program"].title, i["year"] or 0, i["submitter"]))


def scoped_report_dir(states: frozenset[str]) -> Path:
    """Where the report for a state-scoped officer is written (the plugin serves it to them)."""
    return settings.output_dir() / "report_scoped" / access.scope_key(states)


def build_report(out_dir: Path | None = None, states: frozenset[str] | None = None) -> Path:
    """Write the report site and return its front page.

    By default the statewide report goes to ``output_dir()/report`` and, for every set of states an
    Airflow user is scoped to (``access.report_viewers``), a report of those states only to
    ``scoped_report_dir``; with ``states``, only that one report (to ``out_dir`` if given).
    """
    if out_dir:
        out = Path(out_dir)
    else:
        out = settings.output_dir() / "report" if states is None else scoped_report_dir(states)
    contracts = load_contracts()
    with warehouse.connect(autocommit=True) as conn:
        if out_dir is None and states is None:
            scopes = set(access.report_scopes(conn).values())
            for scope in scopes:
                _write_site(ReportData(conn, contracts, scope), scoped_report_dir(scope))
            _remove_unscoped(scopes)
        return _write_site(ReportData(conn, contracts, states), out)


def _write_site(data: ReportData, out: Path) -> Path:
    """Write one report site (statewide, or of ``data.states``) into ``out``; its front page."""
    states = data.states
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    generated_at = dt.datetime.now(dt.UTC).astimezone()
    docs_index = data_docs_dir() / "index.html"
    marts = data.mart_runs()
    failures = data.task_failures()
    summaries = []
    for program in data.programs:
        subs = data.submissions(program.program)
        summaries.append(_write_program(env, data, program, subs, out, marts, generated_at))
    data_runs = data.all_runs()
    marts_failed = [m for m in marts if not m["success"]]
    checks_page = write_checks_page(env, data_runs, out, generated_at)
    index = out / "index.html"
    index.write_text(
        env.get_template("index.html").render(
            summaries=summaries,
            marts=marts,
            marts_failed=marts_failed,
            failures=failures,
            generated_at=generated_at,
            root="",
            # Data Docs hold every state's results: a scoped report does not link them.
            data_docs=os.path.relpath(docs_index, out) if docs_index.exists() and states is None else None,
            scope=sorted(states) if states is not None else None,
            checks_page=checks_page.name,
            actions=action_items(summaries),
            has_audit=data.has_audit,
        ),
        encoding="utf-8",
    )
    return index


def _remove_unscoped(scopes: set[frozenset[str]]) -> None:
    """Drop the reports of state sets no user is scoped to any more."""
    root = settings.output_dir() / "report_scoped"
    keep = {access.scope_key(s) for s in scopes}
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder)


def _write_program(
    env: Environment,
    data: ReportData,
    program: Program,
    subs: list[Submission],
    out: Path,
    marts: list[dict[str, Any]],
    generated_at: dt.datetime,
) -> dict[str, Any]:
    folder = out / program.program
    if folder.exists():
        shutil.rmtree(folder)  # pages of a school year that no longer has submissions must not linger
    folder.mkdir(parents=True)
    by_year: dict[int | None, list[Submission]] = defaultdict(list)
    for s in subs:
        by_year[s.row["school_year"]].append(s)
    years = sorted(by_year, key=lambda y: (y is None, y or 0))
    known_years = [y for y in years if y is not None]
    annotate(program, subs, max(known_years) if known_years else None)
    grid = status_grid(subs, program.program)
    pages = []
    taken: set[str] = set()
    for year in years:
        year_subs = by_year[year]
        for s in year_subs:
            if s.quarantine_total:
                s.csv_name = write_quarantine_csv(data, s, folder / "downloads", download_name(s, taken))
        pages.append(
            {"year": year, "href": f"{program.program}/{page_name(year)}", "counts": _counts(year_subs)}
        )
        (folder / page_name(year)).write_text(
            env.get_template("program_year.html").render(
                program=program,
                year=year,
                subs=year_subs,
                counts=_counts(year_subs),
                grid=grid,
                years=[(y, page_name(y)) for y in years],
                marts_failed=[m for m in marts if not m["success"]],
                generated_at=generated_at,
                root="../",
            ),
            encoding="utf-8",
        )
    return {"program": program, "pages": pages, "counts": _counts(subs), "grid": grid, "subs": subs}


def write_checks_page(
    env: Environment, runs: list[dict[str, Any]], out: Path, generated_at: dt.datetime
) -> Path:
    """Every check of the latest validation runs on one self-contained page (``checks.html``).

    Great Expectations' Data Docs load their styles and scripts from public CDNs and show a blank
    page offline; this page carries the same results with nothing to download.
    """
    page = out / "checks.html"
    page.write_text(
        env.get_template("checks.html").render(runs=runs, generated_at=generated_at, root=""),
        encoding="utf-8",
    )
    return page
