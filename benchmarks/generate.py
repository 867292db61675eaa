"""Scale files for the benchmarks.

``nh_credits_csv`` writes New Hampshire Learn Everywhere student credit records (the layout of
``benchmarks/contracts/nh_learn_everywhere_csv.yml``) at any size: 2,000,000 rows make about
190 MB. Values vary the way real submissions do (district names as written, alias spellings, two
date styles), and a small, known share of rows break the contract in each way the loader must
catch, so a benchmark run can check that every row was loaded or quarantined for the right reason.

The statewide set (seven programs, ten school years) comes from ``innovation_samples``;
see :func:`statewide_set`.

    python -m benchmarks.generate nh --rows 2000000 --out /tmp/bench
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from innovation_pipeline.crosswalk import reference_dir

SCHOOL_YEAR = 2024  # 2023-24
SEED = 20240630
HEADER = [
    "Student ID",
    "Provider Name",
    "Program Name",
    "Subject Area",
    "Credits Awarded",
    "Date Awarded",
    "Resident District",
]
SUBJECTS = ["Social Studies", "Creativity/Arts", "Science", "Health", "Special Education Electives"]
CREDITS = ["0.25", "0.5", "0.5", "1", "1", "1", "1.5", "2"]
CREDITS_PER_STUDENT = 6
# Providers are NH-style organizations; each runs a few approved programs in one subject each.
PROVIDER_STEMS = [
    "Seacoast Science Ctr",
    "Monadnock Arts Coop",
    "Granite YMCA",
    "White Mtn Outdoor Lab",
    "Merrimack Robotics",
    "Lakes Region Theater",
    "Concord Music School",
    "Upper Valley 4-H",
    "Portsmouth Makerspace",
    "NH Audubon",
    "Currier Museum",
    "Nashua Debate League",
]
PROGRAM_STEMS = [
    "Marine Biology",
    "Studio Art",
    "Civics Lab",
    "Wellness",
    "Robotics",
    "Theater",
    "Jazz Band",
    "Field Ecology",
    "Life Skills",
    "Local History",
]
SUBJECT_OF_STEM = [2, 1, 0, 3, 2, 1, 1, 2, 4, 0]


@dataclass
class Expected:
    """What the loader must report for a generated file."""

    rows: int
    quarantined: int
    by_reason: dict[str, int]
    size_bytes: int = 0


def _nh_district_names() -> tuple[list[str], list[str]]:
    """NH district names from the reference directory, and their alias spellings."""
    folder = reference_dir()
    with (folder / "districts.csv").open(encoding="utf-8", newline="") as fh:
        # Districts that existed in the file's school year (others are quarantined, rightly).
        districts = {
            r["district_id"]: r["name"]
            for r in csv.DictReader(fh)
            if r["state"] == "NH"
            and int(r.get("valid_from") or SCHOOL_YEAR)
            <= SCHOOL_YEAR
            <= int(r.get("valid_to") or SCHOOL_YEAR)
        }
    with (folder / "district_aliases.csv").open(encoding="utf-8", newline="") as fh:
        aliases = [r["alias"] for r in csv.DictReader(fh) if r["district_id"] in districts]
    if not districts:
        raise SystemExit("no NH districts in programs/reference/districts.csv")
    if not aliases:
        # The directory lists no NH aliases: spell names the way files abbreviate them
        # ("ALBANY SD"), which the crosswalk resolves by its abbreviation rules.
        aliases = [
            n.replace("School District", "SD").upper() for n in districts.values() if "School District" in n
        ]
    return sorted(districts.values()), sorted(aliases)


def nh_file_name(rows: int) -> str:
    """The file name the benchmark contract expects (school year 2023-24)."""
    return f"NH_LE_statewide_{SCHOOL_YEAR - 1}-{SCHOOL_YEAR % 100:02d}_{rows}.csv"


def nh_credits_frame(rows: int, seed: int = SEED) -> tuple[pl.DataFrame, Expected]:
    """``rows`` credit records as text, built column-wise (2M rows in seconds), plus the expected outcome."""
    rng = np.random.default_rng(seed)
    names, aliases = _nh_district_names()
    programs = [
        (f"{p}", f"{s} {i % 3 + 1}", SUBJECTS[SUBJECT_OF_STEM[(j + i) % len(PROGRAM_STEMS)]])
        for j, p in enumerate(PROVIDER_STEMS)
        for i, s in enumerate(PROGRAM_STEMS[j % 4 :] + PROGRAM_STEMS[: j % 4])
        if i < 7
    ]
    n_prog = len(programs)
    idx = np.arange(rows)
    student = idx // CREDITS_PER_STUDENT
    # Each student takes CREDITS_PER_STUDENT distinct programs: consecutive ones from a random start.
    start = rng.integers(0, n_prog, size=student[-1] + 1 if rows else 0)
    prog = (start[student] + idx % CREDITS_PER_STUDENT) % n_prog
    # A student lives in one district; some files write the name as an alias.
    home = rng.integers(0, len(names), size=len(start))
    district_pool = np.array(names + aliases, dtype=object)
    district_idx = home[student]
    use_alias = rng.random(rows) < 0.05
    district_idx = np.where(use_alias, len(names) + rng.integers(0, len(aliases), size=rows), district_idx)

    first_day = dt.date(SCHOOL_YEAR - 1, 7, 1)
    days = rng.integers(0, 365, size=rows)
    dates = pl.Series("d", [first_day], dtype=pl.Date).to_numpy()[0] + days.astype("timedelta64[D]")
    date_text = pl.Series(dates).dt.strftime("%Y-%m-%d")
    us_style = pl.Series(rng.random(rows) < 0.1)
    date_text = (
        pl.DataFrame({"iso": date_text, "us": pl.Series(dates).dt.strftime("%-m/%-d/%Y"), "u": us_style})
        .select(pl.when(pl.col("u")).then(pl.col("us")).otherwise(pl.col("iso")))
        .to_series()
    )
    prov = np.array([p[0] for p in programs], dtype=object)
    pname = np.array([p[1] for p in programs], dtype=object)
    subj = np.array([p[2] for p in programs], dtype=object)
    frame = pl.DataFrame(
        {
            HEADER[0]: pl.Series(student + 3_300_000_000).cast(pl.Utf8),
            HEADER[1]: pl.Series(prov[prog], dtype=pl.Utf8),
            HEADER[2]: pl.Series(pname[prog], dtype=pl.Utf8),
            HEADER[3]: pl.Series(subj[prog], dtype=pl.Utf8),
            HEADER[4]: pl.Series(
                np.array(CREDITS, dtype=object)[rng.integers(0, len(CREDITS), rows)], dtype=pl.Utf8
            ),
            HEADER[5]: date_text,
            HEADER[6]: pl.Series(district_pool[district_idx], dtype=pl.Utf8),
        }
    )
    return _spoil(frame, rng)


# One defect per spoiled row (so each counts once), about 0.3% of rows in all.
DEFECTS = [
    ("unknown_district", HEADER[6], "Hogwarts Regional"),
    ("missing_value", HEADER[0], ""),
    ("out_of_range", HEADER[4], "6"),
    ("not_a_number", HEADER[4], "one"),
    ("bad_date", HEADER[5], "2024-02-30"),
    ("not_allowed_value", HEADER[3], "Underwater Basket Weaving"),
]
DEFECT_RATE = 0.0005
UNKNOWN_DISTRICTS = 25


def _spoil(frame: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.DataFrame, Expected]:
    rows = frame.height
    per = int(rows * DEFECT_RATE)
    chosen = rng.permutation(rows)[: per * (len(DEFECTS) + 1)]
    by_reason: dict[str, int] = {}
    columns = {c: frame[c].to_numpy().astype(object) for c in frame.columns}
    for k, (code, column, value) in enumerate(DEFECTS):
        where = chosen[k * per : (k + 1) * per]
        if code == "unknown_district":
            # Misspelled districts (each explained with the closest names once per submission).
            known = sorted({n for n in columns[column].tolist() if "School District" in n})[
                :UNKNOWN_DISTRICTS
            ]
            bad = [n.replace("School", "Schol").replace("District", "Distrct") + " Regional" for n in known]
            columns[column][where] = np.array(bad, dtype=object)[np.arange(len(where)) % len(bad)]
        else:
            columns[column][where] = value
        by_reason[code] = per
    # Duplicate keys: a row repeating an earlier clean row's student, program and subject.
    dup_rows = np.sort(chosen[len(DEFECTS) * per :])
    spoiled = set(chosen[: len(DEFECTS) * per].tolist())
    clean_dups = []
    for r in dup_rows.tolist():
        source = r - CREDITS_PER_STUDENT * 7
        if source < 0 or source in spoiled or r in spoiled:
            continue
        for column in (HEADER[0], HEADER[2], HEADER[3]):
            columns[column][r] = columns[column][source]
        spoiled.add(r)
        clean_dups.append(r)
    # A row whose key a later duplicate copies must itself stay clean: drop duplicates of duplicates.
    by_reason["duplicate_key"] = len(clean_dups)
    frame = pl.DataFrame({c: pl.Series(c, v, dtype=pl.Utf8) for c, v in columns.items()})
    return frame, Expected(rows=rows, quarantined=sum(by_reason.values()), by_reason=by_reason)


def write_nh_credits(out_dir: Path, rows: int, seed: int = SEED) -> tuple[Path, Expected]:
    """Write the file (skipped when it already exists with its expectations) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / nh_file_name(rows)
    # Keyed by the district names it draws from: a changed directory makes a new file.
    names, aliases = _nh_district_names()
    digest = hashlib.sha256("\n".join([*names, "", *aliases]).encode("utf-8")).hexdigest()[:8]
    meta = path.with_suffix(f".{digest}.expected.json")
    if path.exists() and meta.exists():
        return path, Expected(**json.loads(meta.read_text(encoding="utf-8")))
    frame, expected = nh_credits_frame(rows, seed)
    tmp = path.with_suffix(".tmp")
    frame.write_csv(tmp)
    tmp.replace(path)
    expected.size_bytes = path.stat().st_size
    meta.write_text(json.dumps(asdict(expected), indent=2), encoding="utf-8")
    return path, expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    nh = sub.add_parser("nh", help="NH student credit records, CSV")
    nh.add_argument("--rows", type=int, default=2_000_000)
    nh.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    path, expected = write_nh_credits(args.out, args.rows)
    print(
        f"{path} ({expected.size_bytes / 1e6:.0f} MB, {expected.rows} rows, {expected.quarantined} to quarantine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
