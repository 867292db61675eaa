"""The real district directory, derived from the NCES Common Core of Data (CCD) LEA directory.

``innovation-pipeline reference import FILE`` rewrites ``programs/reference/districts.csv`` and
``district_aliases.csv`` from a CCD LEA directory CSV (the layout of
``nces_ccd_lea_directory_2024-25_7states.csv``: ``ST, LEAID, ST_LEAID, STATE_LEA_CODE,
KY_KDE_DISTRICT_NUMBER, LEA_NAME, LEA_TYPE_TEXT, SY_STATUS_TEXT``...), adding the districts of
earlier years that CCD no longer lists from the hand-kept ``district_history.csv``. The same input
always writes the same bytes. The synthetic sample districts live apart, in
``sample_districts.csv`` (``innovation_samples.directory``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

DISTRICT_COLUMNS = [
    "district_id",
    "state",
    "state_code",
    "nces_lea_id",
    "st_leaid",
    "name",
    "lea_type",
    "valid_from",
    "valid_to",
    "is_synthetic",
]
ALIAS_COLUMNS = ["district_id", "alias"]

# CCD's LEA_TYPE_TEXT -> the short type the marts carry. "regular" is what marts compare by default.
LEA_TYPES = {
    "Regular public school district that is not a component of a supervisory union": "regular",
    "Regular public school district that is a component of a supervisory union": "regular",
    "Supervisory union": "supervisory_union",
    "Independent charter district": "charter",
    "Service agency": "service_agency",
    "State operated agency": "state_operated",
    "Federal operated agency": "federal_operated",
    "Specialized public school district": "specialized",
    "Other local education agency": "other",
}

# The ending school year of the CCD file (2024-25 -> 2025) sets validity from a row's status.
_STATUS_VALIDITY = {
    "Closed": (None, -1),  # closed since the last report: it last operated the year before
    "New": (0, None),
    "Future": (1, None),  # announced, opens the year after
}

# Real names the directory has always known by (from earlier CCD/CDE naming); kept on import.
REAL_ALIASES = [
    ("CO-1140", "Canon City RE-1"),
    ("CO-1140", "Cañon City Schools"),
    ("CO-1140", "Cañon City RE-1"),
    ("CO-0880", "Denver Public Schools"),
    ("CO-1420", "Jeffco Public Schools"),
]


@dataclass(frozen=True)
class DirectoryRow:
    """One district of the directory, valid from ``valid_from`` to ``valid_to`` (ending school
    years, inclusive; blank: no known bound)."""

    district_id: str
    state: str
    state_code: str
    nces_lea_id: str
    st_leaid: str
    name: str
    lea_type: str
    valid_from: str
    valid_to: str
    is_synthetic: bool = False

    def as_csv(self) -> list[str]:
        return [
            self.district_id,
            self.state,
            self.state_code,
            self.nces_lea_id,
            self.st_leaid,
            self.name,
            self.lea_type,
            self.valid_from,
            self.valid_to,
            str(self.is_synthetic).lower(),
        ]


def canonical_id(state: str, state_code: str) -> str:
    """The project's district id: the state and the state's own code (``CO-0880``, ``KY-275``).

    Equal to CCD's ST_LEAID except in Kentucky, whose files use KDE's three-digit number."""
    return f"{state}-{state_code}"


def _ending_year(school_year: str) -> int:
    match = re.search(r"(\d{4})\s*$", school_year)
    if not match:
        raise ValueError(f"cannot read the school year {school_year!r}")
    return int(match.group(1))


def read_ccd(path: Path) -> list[DirectoryRow]:
    """The CCD LEA directory as directory rows (one per LEA)."""
    rows: list[DirectoryRow] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for r in csv.DictReader(handle):
            state = r["ST"].strip()
            code = (r.get("KY_KDE_DISTRICT_NUMBER") or "").strip() if state == "KY" else ""
            code = code or r["STATE_LEA_CODE"].strip()
            end = _ending_year(r["SCHOOL_YEAR"])
            offsets = _STATUS_VALIDITY.get(r.get("SY_STATUS_TEXT", "").strip(), (None, None))
            lea_type = LEA_TYPES.get(r["LEA_TYPE_TEXT"].strip())
            if lea_type is None:
                raise ValueError(f"{path.name}: unknown LEA type {r['LEA_TYPE_TEXT']!r} ({r['ST_LEAID']})")
            rows.append(
                DirectoryRow(
                    canonical_id(state, code),
                    state,
                    code,
                    r["LEAID"].strip().zfill(7),
                    r["ST_LEAID"].strip(),
                    r["LEA_NAME"].strip(),
                    lea_type,
                    "" if offsets[0] is None else str(end + offsets[0]),
                    "" if offsets[1] is None else str(end + offsets[1]),
                )
            )
    return rows


def read_history(path: Path) -> tuple[list[DirectoryRow], list[tuple[str, str]]]:
    """Districts of earlier years (closed, merged) and the aliases their files use."""
    if not path.exists():
        return [], []
    rows, aliases = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            rows.append(DirectoryRow(*(str(r[c]) for c in DISTRICT_COLUMNS[:-1])))  # type: ignore[arg-type]
            aliases += [(r["district_id"], a.strip()) for a in r.get("aliases", "").split(";") if a.strip()]
    return rows, aliases


def import_directory(ccd: Path, folder: Path) -> tuple[int, int]:
    """Rewrite ``districts.csv`` and ``district_aliases.csv`` in ``folder`` from the CCD file and
    ``district_history.csv``; returns (districts, aliases) written."""
    current = read_ccd(ccd)
    history, history_aliases = read_history(folder / "district_history.csv")
    ids = [d.district_id for d in current + history]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"district ids appear twice: {', '.join(duplicates[:10])}")
    districts = sorted(current + history, key=lambda d: (d.state, d.district_id))
    known = set(ids)
    aliases = sorted({a for a in REAL_ALIASES + history_aliases if a[0] in known})
    with (folder / "districts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DISTRICT_COLUMNS)
        writer.writerows(d.as_csv() for d in districts)
    with (folder / "district_aliases.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ALIAS_COLUMNS)
        writer.writerows(aliases)
    return len(districts), len(aliases)
