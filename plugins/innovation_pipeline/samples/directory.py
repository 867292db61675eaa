"""The district reference directory: ``programs/reference/districts.csv`` and ``district_aliases.csv``.

Colorado's rows are the real CDE district codes and names (committed as data, taken once from the
CDE chronic absenteeism workbook; Colorado has no NCES LEA IDs here because we do not know the real
ones). The other six states are synthetic at their real district counts, built here
deterministically so the sample generator and the directory always agree.

Rebuild the synthetic part (Colorado rows and aliases in the files are kept as they are)::

    python -m innovation_pipeline.samples.directory
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DISTRICT_COLUMNS = ["district_id", "state", "state_code", "nces_lea_id", "name", "is_synthetic"]
ALIAS_COLUMNS = ["district_id", "alias"]
NAME_SCHEME_STATES = ("NH", "UT")


@dataclass(frozen=True)
class District:
    """One row of the reference directory."""

    district_id: str
    state: str
    state_code: str
    nces_lea_id: str
    name: str
    is_synthetic: bool

    @property
    def slug(self) -> str:
        """The name as a file-name slug: 'Juab School District' -> 'juab-school-district'."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass(frozen=True)
class StateSpec:
    """How a synthetic state numbers and names its districts."""

    fips: str
    count: int
    make_code: Callable[[random.Random], str]
    make_name: Callable[[str, int], str]
    featured: tuple[str, ...] = ()  # districts the domain brief names; always present


def _digits(width: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: str(rng.randint(1, high)).zfill(width)


def _county_district(counties: int) -> Callable[[random.Random], str]:
    # ND and WA number districts county first: 2-digit county + 3-digit district.
    return lambda rng: f"{rng.randint(1, counties):02d}{rng.randint(1, 399):03d}"


def _ky_name(stem: str, i: int) -> str:
    return f"{stem} County" if i < 120 else f"{stem} Independent"


def _mt_name(stem: str, i: int) -> str:
    return f"{stem} {('Elementary', 'High School', 'K-12 Schools', 'Public Schools')[i % 4]}"


def _nh_name(stem: str, i: int) -> str:
    return f"{stem} Cooperative School District" if i % 9 == 4 else f"{stem} School District"


def _nd_name(stem: str, i: int) -> str:
    return f"{stem} {(i * 37) % 140 + 1}"


def _ut_name(stem: str, i: int) -> str:
    # Utah: 41 school districts, the rest charter schools that are their own LEAs.
    if i < 41:
        return f"{stem} School District"
    return f"{stem} {('Academy', 'Charter School', 'Preparatory Academy')[i % 3]}"


def _wa_name(stem: str, i: int) -> str:
    return f"{stem} School District"


SYNTHETIC_STATES: dict[str, StateSpec] = {
    "KY": StateSpec("21", 171, _digits(3, 650), _ky_name, ("Jefferson County", "Allen County")),
    "MT": StateSpec("30", 400, _digits(4, 1300), _mt_name, ("Great Falls Public Schools",)),
    "NH": StateSpec("33", 180, _digits(3, 700), _nh_name, ("Concord School District",)),
    "ND": StateSpec("38", 170, _county_district(53), _nd_name, ("Northern Cass 97", "West Fargo 6")),
    "UT": StateSpec(
        "49", 155, _digits(3, 999), _ut_name, ("Juab School District", "Ogden City School District")
    ),
    "WA": StateSpec(
        "53", 295, _county_district(39), _wa_name, ("Tumwater School District", "Northshore School District")
    ),
}

_PREFIXES = (
    "Bear Beaver Big Birch Black Blue Boulder Buffalo Cedar Clear Cold Coyote Crystal Deer Eagle East Elk "
    "Fair Fox Glen Golden Granite Green Hawk Hidden High Iron Lake Little Long Maple Meadow Mill North Oak "
    "Pine Pleasant Prairie Red Rock Rose Sage Sand Shadow Silver South Spring Stone Sun West White Willow Wolf"
).split()
_ROOTS = (
    "Creek Valley Ridge Falls River Butte Hills Springs Point Grove Haven Brook Field Mountain Hollow Bend "
    "Crossing Meadows Harbor Flats"
).split()


def _stems(rng: random.Random, count: int) -> list[str]:
    stems = [f"{p} {r}" for p in _PREFIXES for r in _ROOTS]
    return rng.sample(stems, count)


def synthetic_state(state: str, spec: StateSpec) -> list[District]:
    """A state's synthetic districts: plausible names, unique codes and NCES-shaped LEA IDs."""
    rng = random.Random(f"directory:{state}")
    count = spec.count - len(spec.featured)
    names = [spec.make_name(stem, i) for i, stem in enumerate(_stems(rng, count))]
    names = sorted([*names, *spec.featured])
    codes: set[str] = set()
    while len(codes) < spec.count:
        codes.add(spec.make_code(rng))
    lea_suffixes = sorted(rng.sample(range(100, 99_999), spec.count))
    # States number districts roughly alphabetically, so codes and LEA IDs ascend with the name.
    return [
        District(f"{state}-{code}", state, code, f"{spec.fips}{suffix:05d}", name, True)
        for name, code, suffix in zip(names, sorted(codes), lea_suffixes, strict=True)
    ]


def _base_name(name: str) -> str:
    return re.sub(r"\s+(School District|Cooperative School District|City School District)$", "", name)


def name_variants(district: District) -> list[str]:
    """Spellings a name-scheme state's files use for one district (aliases in the directory)."""
    base = _base_name(district.name)
    if base == district.name:  # charter schools: "Sage Creek Academy"
        return [district.name.upper(), f"{district.name} (LEA)", district.slug]
    return [
        f"{base} SD",
        f"{base} School Dist.",
        f"{district.name.upper()} ",
        f"{base} District",
        district.slug,
    ]


CO_ALIASES = [
    ("CO-1140", "Canon City RE-1"),
    ("CO-1140", "CANON CITY RE-1 "),
    ("CO-1140", "Cañon City Schools"),
    ("CO-1140", "Cañon City RE-1"),
    ("CO-0880", "Denver Public Schools"),
    ("CO-1420", "Jeffco Public Schools"),
]


def reference_dir() -> Path:
    from innovation_pipeline.warehouse import project_root

    return project_root() / "programs" / "reference"


def read_directory(folder: Path | None = None) -> list[District]:
    """Every district in ``districts.csv``."""
    path = (folder or reference_dir()) / "districts.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            District(
                r["district_id"],
                r["state"],
                r["state_code"],
                r["nces_lea_id"],
                r["name"],
                r["is_synthetic"] == "true",
            )
            for r in csv.DictReader(handle)
        ]


def read_aliases(folder: Path | None = None) -> list[tuple[str, str]]:
    """Every (district_id, alias) pair in ``district_aliases.csv``."""
    path = (folder or reference_dir()) / "district_aliases.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["district_id"], r["alias"]) for r in csv.DictReader(handle)]


def build(folder: Path | None = None) -> tuple[int, int]:
    """Rewrite both CSVs: Colorado rows kept as committed, the six synthetic states rebuilt."""
    folder = folder or reference_dir()
    colorado = [d for d in read_directory(folder) if d.state == "CO"]
    districts = colorado + [
        d for state, spec in SYNTHETIC_STATES.items() for d in synthetic_state(state, spec)
    ]
    aliases = list(CO_ALIASES) + [
        (d.district_id, alias)
        for d in districts
        if d.state in NAME_SCHEME_STATES
        for alias in name_variants(d)
    ]
    with (folder / "districts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DISTRICT_COLUMNS)
        for d in districts:
            writer.writerow(
                [d.district_id, d.state, d.state_code, d.nces_lea_id, d.name, str(d.is_synthetic).lower()]
            )
    with (folder / "district_aliases.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ALIAS_COLUMNS)
        writer.writerows(aliases)
    return len(districts), len(aliases)


if __name__ == "__main__":
    n_districts, n_aliases = build()
    print(f"wrote {n_districts} districts and {n_aliases} aliases to {reference_dir()}")
