"""The sample district directory: ``programs/reference/sample_districts.csv`` and
``sample_district_aliases.csv``, the synthetic districts the sample submissions name.

The real directory (``districts.csv``, all seven states from the NCES CCD; see
``innovation_pipeline.reference``) is kept apart. Colorado's samples name real CDE districts (the
CDE codes of ``districts.csv``). The other six states' sample districts are synthetic at their real
district counts, built here deterministically, in a namespace no real file can reach: their codes
lie in ranges the states do not assign (checked against the real directory by
``tests/test_reference.py``), their NCES LEA IDs use suffixes 50000 and up, which no LEA of the
seven states has, and their names are invented.

Rebuild it::

    innovation-samples directory        (or: python -m innovation_samples.directory)
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from innovation_pipeline.crosswalk import reference_dir
from innovation_pipeline.reference import ALIAS_COLUMNS, DISTRICT_COLUMNS

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


def _digits(
    width: int, ranges: tuple[tuple[int, int], ...], skip: tuple[int, ...] = ()
) -> Callable[[random.Random], str]:
    # ranges: blocks of the state's numbering that its real districts do not use; skip: the few
    # real codes inside them.
    pool = [n for low, high in ranges for n in range(low, high + 1) if n not in skip]
    return lambda rng: str(rng.choice(pool)).zfill(width)


def _county_district(first_county: int) -> Callable[[random.Random], str]:
    # ND and WA number districts county first: 2-digit county + 3-digit district. Sample counties
    # start after the state's last real county (ND has 53, WA 39).
    return lambda rng: f"{rng.randint(first_county, 99):02d}{rng.randint(1, 399):03d}"


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


# Featured: the invented stand-ins for the districts the domain brief names (Jefferson and Allen
# County KY, Great Falls MT, Concord NH, Northern Cass and West Fargo ND, Juab and Ogden UT, Tumwater
# and Northshore WA); never a real name, so a real file naming those districts reaches the real ones.
SYNTHETIC_STATES: dict[str, StateSpec] = {
    # KDE numbers of districts end below 700; 777 (Kentucky Tech System) and 880 (Youth ChalleNGe)
    # are the only real ones above.
    "KY": StateSpec(
        "21",
        171,
        _digits(3, ((700, 999),), (777, 880)),
        _ky_name,
        ("Cardinal Ridge County", "Limestone Falls County"),
    ),
    "MT": StateSpec("30", 400, _digits(4, ((2000, 8999),)), _mt_name, ("Copper Falls Public Schools",)),
    "NH": StateSpec(
        "33", 180, _digits(3, ((600, 699), (800, 899))), _nh_name, ("Granite Notch School District",)
    ),
    "ND": StateSpec("38", 170, _county_district(60), _nd_name, ("Prairie Rose 97", "Wheatland 6")),
    # Utah's own codes are two characters; sample codes have three digits.
    "UT": StateSpec(
        "49",
        155,
        _digits(3, ((100, 999),)),
        _ut_name,
        ("Juniper Mesa School District", "Canyon Arch City School District"),
    ),
    "WA": StateSpec(
        "53",
        295,
        _county_district(40),
        _wa_name,
        ("Cedar Sound School District", "Evergreen Shore School District"),
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


# Stems that begin a real district's name in one of the seven states (CCD 2024-25 and the
# history): never used, so no sample name is a real one ("Silver Grove", "Wolf Point").
_REAL_STEMS = set(
    "Bear River|Blue Creek|Boulder Valley|Clear Creek|Deer Creek|East Valley|Golden Ridge|Golden Valley|"
    "Granite Falls|Green Mountain|Green River|Maple Valley|Mill Falls|North River|North Valley|Oak Harbor|"
    "Pine Creek|Pine Grove|Pleasant Valley|Sand Springs|Silver Grove|South Bend|South Valley|Spring Creek|"
    "Sun River|West Point|West River|West Valley|White River|Willow Creek|Wolf Creek|Wolf Point".split("|")
)


def _stems(rng: random.Random, count: int) -> list[str]:
    stems = [f"{p} {r}" for p in _PREFIXES for r in _ROOTS if f"{p} {r}" not in _REAL_STEMS]
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
    # No LEA of the seven states has an NCES suffix from 30000 to 79999 (CCD 2024-25).
    lea_suffixes = sorted(rng.sample(range(50_000, 80_000), spec.count))
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


SAMPLE_DISTRICTS = "sample_districts.csv"
SAMPLE_ALIASES = "sample_district_aliases.csv"


def _read(path: Path) -> list[District]:
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
            # Colorado's samples name its districts by CDE's four-digit codes: not its BOCES
            # (service agencies), nor the administrative units CCD numbers with five digits.
            if not path.name.startswith("districts")
            or (r["lea_type"] != "service_agency" and not r["valid_to"] and len(r["state_code"]) == 4)
        ]


def read_directory(folder: Path | None = None) -> list[District]:
    """The districts the samples name: Colorado's real ones, the other states' synthetic ones."""
    folder = folder or reference_dir()
    real = [d for d in _read(folder / "districts.csv") if d.state == "CO"]
    return real + _read(folder / SAMPLE_DISTRICTS)


def read_aliases(folder: Path | None = None) -> list[tuple[str, str]]:
    """Every (district_id, alias) pair of the real and the sample directory."""
    folder = folder or reference_dir()
    pairs: list[tuple[str, str]] = []
    for name in ("district_aliases.csv", SAMPLE_ALIASES):
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            pairs += [(r["district_id"], r["alias"]) for r in csv.DictReader(handle)]
    return pairs


def build(folder: Path | None = None) -> tuple[int, int]:
    """Rewrite the sample directory (``sample_districts.csv`` and its aliases)."""
    folder = folder or reference_dir()
    districts = [d for state, spec in SYNTHETIC_STATES.items() for d in synthetic_state(state, spec)]
    aliases = [
        (d.district_id, alias)
        for d in districts
        if d.state in NAME_SCHEME_STATES
        for alias in name_variants(d)
    ]
    with (folder / SAMPLE_DISTRICTS).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DISTRICT_COLUMNS)
        for d in districts:
            charter = d.state == "UT" and not d.name.endswith("School District")
            kind = "charter" if charter else "regular"
            writer.writerow(
                [d.district_id, d.state, d.state_code, d.nces_lea_id, "", d.name, kind, "", "", "true"]
            )
    with (folder / SAMPLE_ALIASES).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(ALIAS_COLUMNS)
        writer.writerows(aliases)
    return len(districts), len(aliases)


if __name__ == "__main__":
    n_districts, n_aliases = build()
    print(f"wrote {n_districts} districts and {n_aliases} aliases to {reference_dir()}")
