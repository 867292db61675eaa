"""Generate the sample inbox: every program's submissions over several school years, and a manifest.

``generate(out_dir)`` writes ``out_dir/inbox/<source>/<file>`` and ``out_dir/manifest.json``. The
manifest lists every file with its SHA-256 and the outcome the loader must reach once all files of
a source are loaded in file-name order (loaded, duplicate, rejected or superseded; rows received,
loaded and quarantined), and every injected defect with its row and reason code. The same seed
always gives the same bytes.

Kept as one module though it is long: one pass from layouts to files (who takes part, the files,
the resubmissions, duplicates and bad files, the manifest) that fills one list of deliveries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innovation_pipeline.contracts import Contract, load_contracts
from innovation_samples import programs as layouts
from innovation_samples.defects import apply_spoils, spoils_for
from innovation_samples.directory import District, read_aliases, read_directory
from innovation_samples.programs import NH_PROVIDERS, Context, Layout
from innovation_samples.tables import Defect, Table, csv_bytes, json_bytes, json_records, xlsx_bytes

STATES = ("CO", "KY", "MT", "NH", "ND", "UT", "WA")


@dataclass
class Submission:
    """One generated file and what the loader must make of it."""

    source: str
    name: str
    content: bytes
    submitter: str | None  # the key supersession uses: district id, provider slug or state
    school_year: int | None
    format: str
    submitter_written: str | None = None  # as the file name writes it
    encoding: str | None = None
    rows_received: int = 0
    rows_quarantined: int = 0
    defects: list[tuple[int, Defect]] = field(default_factory=list)
    rejected: str | None = None  # the file-level reason code the loader must give
    note: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def path(self) -> str:
        return f"inbox/{self.source}/{self.name}"


@dataclass(frozen=True)
class Program:
    """A source: who its submissions come from and the layout that writes one."""

    source: str
    units: Callable[[Context], list[tuple[Any, Any]]]  # (who, what the layout is given)
    build: Callable[[Context, Any, int], Layout]
    submitter: Callable[[Any], tuple[str, str | None]]  # (submission key, as the file name writes it)


# --- who takes part ---------------------------------------------------------------------------------


def _participants(
    ctx: Context,
    state: str,
    featured: tuple[str, ...],
    count: int,
    eligible: Callable[[District], bool] = lambda d: True,
) -> list[District]:
    """The featured districts (by name or id) first, then a seeded draw from the rest of the state."""
    pool = ctx.directory[state]
    chosen = [d for f in featured for d in pool if f in (d.name, d.district_id)]
    rest = [d for d in pool if d not in chosen and eligible(d)]
    return chosen + ctx.rng("participants", state).sample(rest, count - len(chosen))


def _each(select: Callable[[Context], list[Any]]) -> Callable[[Context], list[tuple[Any, Any]]]:
    # One file per participant per year; the participant's position is its defect address.
    return lambda ctx: list(enumerate(select(ctx)))


def _compiled(select: Callable[[Context], list[District]]) -> Callable[[Context], list[tuple[Any, Any]]]:
    # One state-compiled file a year listing every participant, in LEA ID order.
    return lambda ctx: [(None, sorted(select(ctx), key=lambda d: d.nces_lea_id))]


def _school_district(d: District) -> bool:
    return d.name.endswith("School District")


PROGRAMS: tuple[Program, ...] = (
    Program(
        "co_local_accountability",
        _each(lambda ctx: _participants(ctx, "CO", ("CO-1140", "CO-1420", "CO-0880"), 10)),
        layouts.co_local_accountability,
        lambda d: (d.district_id, d.state_code),
    ),
    Program(
        "ky_local_labs",
        _each(lambda ctx: _participants(ctx, "KY", ("Cardinal Ridge County", "Limestone Falls County"), 8)),
        layouts.ky_local_labs,
        lambda d: (d.district_id, d.state_code),
    ),
    Program(
        "mt_transformational_learning",
        _compiled(lambda ctx: _participants(ctx, "MT", ("Copper Falls Public Schools",), 40)),
        layouts.mt_transformational_learning,
        lambda _: ("MT", None),
    ),
    Program(
        "nh_learn_everywhere",
        _each(lambda ctx: list(NH_PROVIDERS)),
        layouts.nh_learn_everywhere,
        lambda slug: (slug, slug),
    ),
    Program(
        "nd_innovative_education",
        _compiled(lambda ctx: _participants(ctx, "ND", ("Prairie Rose 97", "Wheatland 6"), 15)),
        layouts.nd_innovative_education,
        lambda _: ("ND", None),
    ),
    Program(
        "ut_pcbl_grants",
        _each(
            lambda ctx: _participants(
                ctx,
                "UT",
                ("Juniper Mesa School District", "Canyon Arch City School District"),
                6,
                _school_district,
            )
        ),
        layouts.ut_pcbl_grants,
        lambda d: (d.district_id, d.slug),
    ),
    Program(
        "wa_mastery_learning",
        _compiled(
            lambda ctx: _participants(
                ctx, "WA", ("Cedar Sound School District", "Evergreen Shore School District"), 30
            )
        ),
        layouts.wa_mastery_learning,
        lambda _: ("WA", None),
    ),
    Program(
        "state_outcomes",
        lambda ctx: [(s, s) for s in STATES],
        layouts.state_outcomes,
        lambda state: (state, state),
    ),
)
_BY_SOURCE = {p.source: p for p in PROGRAMS}


# --- from layout to file ------------------------------------------------------------------------------


def render(layout: Layout) -> tuple[bytes, list[int]]:
    """The file's bytes and the ``_source_row`` of each data row."""
    table = layout.table
    if layout.format == "excel":
        return xlsx_bytes({**layout.extra_sheets, layout.sheet or "Sheet1": table}), table.physical_rows()
    if layout.format == "json":
        return json_bytes(layout.envelope, json_records(table)), list(range(1, len(table.rows) + 1))
    return csv_bytes(table, layout.delimiter, layout.encoding, layout.newline), table.physical_rows()


def to_submission(source: str, layout: Layout, submitter: tuple[str, str | None], year: int) -> Submission:
    """A rendered layout with its expected row counts and defects."""
    content, source_rows = render(layout)
    return Submission(
        source,
        layout.name,
        content,
        submitter[0],
        year,
        layout.format,
        submitter_written=submitter[1],
        encoding=layout.encoding if layout.format == "csv" else None,
        rows_received=len(layout.table.rows),
        rows_quarantined=sum(1 for row in layout.table.rows if row.defects),
        defects=layout.table.defects(source_rows),
    )


def _rename(name: str, tail: str) -> str:
    stem, _, ext = name.rpartition(".")
    return f"{stem}{tail}.{ext}"


class Builder:
    """Builds every program's submissions for the given years, spoiled as ROW_DEFECTS says."""

    def __init__(self, ctx: Context, contracts: dict[str, Contract], years: tuple[int, ...]) -> None:
        self.ctx, self.contracts, self.years = ctx, contracts, years
        self.units = {p.source: p.units(ctx) for p in PROGRAMS}

    def unit(self, source: str, who: Any) -> Any:
        return dict(self.units[source])[who]

    def layout(self, source: str, who: Any, year_index: int, spoiled: bool = True) -> Layout:
        program, year = _BY_SOURCE[source], self.years[year_index]
        layout = program.build(self.ctx, self.unit(source, who), year)
        if spoiled:
            spoils = spoils_for(source, year_index, who)
            apply_spoils(
                layout.table,
                spoils,
                self._other_district(source, who, year) if spoils else "",
                self.contracts[source].natural_key,
            )
        return layout

    def _other_district(self, source: str, who: Any, year: int) -> str:
        """The district cell the next participant writes: what a row for the wrong district holds."""
        units = self.units[source]
        if not isinstance(who, int):
            return ""
        other = units[(who + 1) % len(units)][1]
        return _BY_SOURCE[source].build(self.ctx, other, year).table.rows[0].values["district"]

    def submission(self, source: str, who: Any, year_index: int, spoiled: bool = True) -> Submission:
        layout = self.layout(source, who, year_index, spoiled)
        submitter = _BY_SOURCE[source].submitter(self.unit(source, who))
        return to_submission(source, layout, submitter, self.years[year_index])

    def regular(self) -> Iterator[Submission]:
        for program in PROGRAMS:
            for year_index in range(len(self.years)):
                for who, _ in self.units[program.source]:
                    yield self.submission(program.source, who, year_index)


# --- resubmissions, duplicate deliveries and bad files ------------------------------------------------


def _resubmission(b: Builder, source: str, who: Any, year_index: int, note: str) -> Submission:
    # The corrected file: the same submission without its defects, named to sort after the original.
    fixed = b.submission(source, who, year_index, spoiled=False)
    fixed.name, fixed.note = _rename(b.submission(source, who, year_index).name, "_v2"), note
    return fixed


def _resent(b: Builder, source: str, who: Any, year_index: int) -> Submission:
    copy = b.submission(source, who, year_index)
    copy.name = _rename(copy.name, "_resent")
    copy.note = "the same bytes delivered again under another name"
    return copy


def _rejected(
    source: str,
    name: str,
    content: bytes,
    submitter: tuple[str, str | None],
    year: int | None,
    fmt: str,
    reason: str,
    note: str,
) -> Submission:
    return Submission(
        source,
        name,
        content,
        submitter[0],
        year,
        fmt,
        submitter_written=submitter[1],
        rejected=reason,
        note=note,
    )


def _without_column(table: Table, key: str) -> Table:
    return Table({k: v for k, v in table.columns.items() if k != key}, table.rows, table.title, table.footer)


def extras(b: Builder) -> Iterator[Submission]:
    """Corrected resubmissions, duplicate deliveries and files the loader must reject whole."""
    years, last = b.years, len(b.years) - 1
    if last >= 1:
        yield _resubmission(b, "co_local_accountability", 0, 1, "corrects the rate above 100%; supersedes")
        yield _resubmission(b, "state_outcomes", "WA", 1, "corrects 'N.A.'; supersedes")
        yield _resent(b, "mt_transformational_learning", None, 1)
    yield _resent(b, "ky_local_labs", 1, last)

    ky = b.units["ky_local_labs"]
    district = ky[6][1]
    yield _rejected(
        "ky_local_labs",
        f"KY_LLL_{district.state_code}_{years[0]}.csv",
        b"",
        (district.district_id, district.state_code),
        years[0],
        "csv",
        "empty_file",
        "a zero-byte file",
    )
    layout = b.layout("ky_local_labs", 7, 0, spoiled=False)
    layout.table.rows.pop()  # the 'final' version differs from the file already sent: never a duplicate
    district = ky[7][1]
    yield _rejected(
        "ky_local_labs",
        f"KY_LLL_{district.state_code}_final.csv",
        render(layout)[0],
        (district.district_id, district.state_code),
        None,
        "csv",
        "bad_file_name",
        "'final' where the school year belongs",
    )
    layout = b.layout("ky_local_labs", 5, last, spoiled=False)
    district = ky[5][1]
    yield _rejected(
        "ky_local_labs",
        f"KY_LLL_{district.state_code}_{years[last]}.csv",
        csv_bytes(_without_column(layout.table, "students_proficient")),
        (district.district_id, district.state_code),
        years[last],
        "csv",
        "missing_columns",
        "the Proficient column is missing",
    )

    layout = b.layout("ut_pcbl_grants", 1, last, spoiled=False)
    district = b.unit("ut_pcbl_grants", 1)
    yield _rejected(
        "ut_pcbl_grants",
        f"UT_PCBL_{district.slug}_{years[last]}.xlsx",
        csv_bytes(layout.table),
        (district.district_id, district.slug),
        years[last],
        "excel",
        "unreadable",
        "CSV text saved under an .xlsx name",
    )
    junk = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b.ctx.rng("pdf").randbytes(700)
    yield _rejected(
        "nd_innovative_education",
        f"ND_DPI_IEP_Waivers_SY{years[last]}.csv",
        junk,
        ("ND", None),
        years[last],
        "csv",
        "unreadable",
        "a PDF export named .csv",
    )

    slug, year = "white-mountain-robotics-club", years[last]
    envelope = {
        "provider": "White Mountain Robotics Club",
        "school_year": str(year),
        "submitted_on": f"{year}-07-12",
    }
    yield _rejected(
        "nh_learn_everywhere",
        f"NH_LE_{slug}_{year}.json",
        json_bytes(envelope, []),
        (slug, slug),
        year,
        "json",
        "no_data_rows",
        "a newly approved provider with no credits yet",
    )

    layout = b.layout("mt_transformational_learning", None, last, spoiled=False)
    layout.table.rows = layout.table.rows[:3]
    yield _rejected(
        "mt_transformational_learning",
        _rename(layout.name, "_draft"),
        render(layout)[0],
        ("MT", None),
        years[last],
        "csv",
        "too_few_rows",
        "a draft with 3 of the participating districts",
    )


# --- the manifest -------------------------------------------------------------------------------------


def expected_statuses(submissions: list[Submission]) -> dict[str, str]:
    """Each file's final status once every file of its source is loaded in file-name order."""
    status: dict[str, str] = {}
    for source in sorted({s.source for s in submissions}):
        seen: set[str] = set()
        latest: dict[tuple[str | None, int | None], Submission] = {}
        for sub in sorted((s for s in submissions if s.source == source), key=lambda s: s.name):
            if sub.rejected:
                status[sub.path] = "rejected"
            elif sub.sha256 in seen:
                status[sub.path] = "duplicate"
            else:
                earlier = latest.get((sub.submitter, sub.school_year))
                if earlier is not None:
                    status[earlier.path] = "superseded"
                latest[(sub.submitter, sub.school_year)] = sub
                status[sub.path] = "loaded"
            seen.add(sub.sha256)
    return status


def delivered_at(sub: Submission, contract: Contract, seed: int, years: tuple[int, ...]) -> dt.datetime:
    """When the file arrived: most weeks before the due date, one in five up to three weeks late,
    and corrections and re-sends some days after the first delivery."""
    due = contract.due.for_school_year(sub.school_year or years[-1])
    draw = int(hashlib.sha256(f"{seed}:{sub.path}".encode()).hexdigest()[:8], 16)
    offset = (draw % 21) + 1 if draw % 5 == 0 else -(draw % 40) - 1
    if sub.name.rsplit(".", 1)[0].endswith(("_v2", "_resent")):
        offset += 12
    return dt.datetime.combine(due, dt.time(15, 0), tzinfo=dt.UTC) + dt.timedelta(days=offset)


def _file_entry(sub: Submission, status: str, arrived: dt.datetime, due: dt.date | None) -> dict[str, Any]:
    landed = status in ("loaded", "superseded")
    received = sub.rows_received if landed else 0
    quarantined = sub.rows_quarantined if landed else 0
    return {
        "source": sub.source,
        "path": sub.path,
        "sha256": sub.sha256,
        "size_bytes": len(sub.content),
        "format": sub.format,
        "encoding": sub.encoding,
        "submitter": sub.submitter,
        "submitter_written": sub.submitter_written,
        "school_year": sub.school_year,
        "expected_status": status,
        "rows_received": received,
        "rows_loaded": received - quarantined,
        "rows_quarantined": quarantined,
        "reason_code": sub.rejected,
        "note": sub.note,
        "delivered_at": arrived.isoformat(),
        "expected_late": (arrived.date() > due) if due else None,
    }


def build_manifest(
    submissions: list[Submission], seed: int, years: tuple[int, ...], contracts: dict[str, Contract]
) -> dict[str, Any]:
    """The manifest: every file with its expected outcome, and every defect that must be caught."""
    statuses = expected_statuses(submissions)
    ordered = sorted(submissions, key=lambda s: s.path)

    def entry(s: Submission) -> dict[str, Any]:
        contract = contracts[s.source]
        due = contract.due.for_school_year(s.school_year) if s.school_year else None
        return _file_entry(s, statuses[s.path], delivered_at(s, contract, seed, years), due)

    return {
        "seed": seed,
        "years": list(years),
        "files": [entry(s) for s in ordered],
        "defects": [
            {
                "file": s.path,
                "source_row": row,
                "column": d.column,
                "source_column": d.source_column,
                "value": d.value,
                "reason_code": d.reason_code,
                "description": d.description,
            }
            for s in ordered
            if statuses[s.path] in ("loaded", "superseded")
            for row, d in s.defects
        ],
    }


def _context(seed: int) -> Context:
    by_state: dict[str, list[District]] = {}
    for district in read_directory():
        by_state.setdefault(district.state, []).append(district)
    aliases: dict[str, list[str]] = {}
    for district_id, alias in read_aliases():
        aliases.setdefault(district_id, []).append(alias)
    return Context(seed, by_state, aliases)


def _check_names(submissions: list[Submission], contracts: dict[str, Contract]) -> None:
    paths = [s.path for s in submissions]
    clashes = {p for p in paths if paths.count(p) > 1}
    if clashes:
        raise ValueError(f"two generated files share a name: {sorted(clashes)}")
    for sub in submissions:
        if not contracts[sub.source].matches_file(sub.name):
            raise ValueError(f"{sub.name} does not match the {sub.source} contract's file pattern")


def generate(out_dir: Path, seed: int = 2024, years: tuple[int, ...] = (2022, 2023, 2024)) -> dict:
    """Write the sample inbox and ``manifest.json`` under ``out_dir``; return the manifest.

    A previous run's inbox in ``out_dir`` (one with a manifest) is replaced, never merged.
    """
    out_dir = Path(out_dir)
    contracts = load_contracts()
    builder = Builder(_context(seed), contracts, tuple(years))
    submissions = [*builder.regular(), *extras(builder)]
    _check_names(submissions, contracts)
    manifest = build_manifest(submissions, seed, tuple(years), contracts)
    if (out_dir / "manifest.json").exists():
        shutil.rmtree(out_dir / "inbox", ignore_errors=True)
    for sub, entry in zip(sorted(submissions, key=lambda s: s.path), manifest["files"], strict=True):
        target = out_dir / sub.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sub.content)
        # The inbox's modification time is when the file arrived: it decides on time or late.
        stamp = dt.datetime.fromisoformat(entry["delivered_at"]).timestamp()
        os.utime(target, (stamp, stamp))
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest
