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

from innovation_pipeline import settings, warehouse
from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.dq import masking
from innovation_pipeline.dq.report_data import Program, ReportData, Submission
from innovation_pipeline.dq.runner import data_docs_dir

GRID_LABELS = {
    "ok": "Loaded on time, no problems",
    "late": "Loaded late, no problems",
    "problems": "Loaded, with problems to fix",
    "rejected": "File not accepted",
    "none": "Nothing received",
}


def school_year_label(year: int | None) -> str:
    """2024 -> '2023-24'; None -> 'Unknown school year'."""
    if year is None:
        return "Unknown school year"
    return f"{year - 1}-{str(year)[-2:]}"


def page_name(year: int | None) -> str:
    return f"{year}.html" if year is not None else "unknown-year.html"


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
    return env


def _active(subs: list[Submission]) -> Submission | None:
    """The submission that counts for a submitter and year: the loaded one, else the latest received."""
    loaded = [s for s in subs if s.row["status"] == "loaded"]
    pool = loaded or [s for s in subs if s.row["status"] != "duplicate"] or subs
    return max(pool, key=lambda s: (s.row["received_at"], s.id)) if pool else None


def status_grid(subs: list[Submission]) -> dict[str, Any]:
    """Submitter x school year cells, each coloured by its active submission."""
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
                }
            )
        rows.append({"submitter": name, "cells": row})
    return {"years": years, "rows": rows, "labels": GRID_LABELS}


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


def write_quarantine_csv(data: ReportData, sub: Submission, folder: Path) -> str:
    """All quarantined rows of a submission as CSV, masked, with formula text neutralized."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"quarantine_{sub.id}.csv"
    with (folder / name).open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row in file", "sheet", "column", "problem", "message", "value as sent"])
        for r in data.quarantine_rows(sub.id):
            writer.writerow(
                [
                    masking.neutralize_formula(v)
                    for v in (
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


def build_report(out_dir: Path | None = None) -> Path:
    """Write the report site (default ``output_dir()/report``) and return its front page."""
    out = Path(out_dir) if out_dir else settings.output_dir() / "report"
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    generated_at = dt.datetime.now(dt.UTC).astimezone()
    docs_index = data_docs_dir() / "index.html"
    contracts = load_contracts()
    with warehouse.connect(autocommit=True) as conn:
        data = ReportData(conn, contracts)
        marts = data.mart_runs()
        failures = data.task_failures()
        summaries = []
        for program in data.programs:
            subs = data.submissions(program.program)
            summaries.append(_write_program(env, data, program, subs, out, marts, generated_at))
    marts_failed = [m for m in marts if not m["success"]]
    index = out / "index.html"
    index.write_text(
        env.get_template("index.html").render(
            summaries=summaries,
            marts=marts,
            marts_failed=marts_failed,
            failures=failures,
            generated_at=generated_at,
            root="",
            data_docs=os.path.relpath(docs_index, out) if docs_index.exists() else None,
            has_audit=data.has_audit,
        ),
        encoding="utf-8",
    )
    return index


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
    grid = status_grid(subs)
    pages = []
    for year in years:
        year_subs = by_year[year]
        for s in year_subs:
            if s.quarantine_total:
                s.csv_name = write_quarantine_csv(data, s, folder / "downloads")
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
    return {"program": program, "pages": pages, "counts": _counts(subs), "grid": grid}
