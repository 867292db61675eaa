"""District identity: every state's codes and name variants to one canonical district.

The real directory (``programs/reference/districts.csv``, derived from the NCES CCD by
``innovation-pipeline reference import``, with the districts of earlier years), the synthetic sample
directory (``sample_districts.csv``, in ranges no real code uses) and their name variants
(``*district_aliases.csv``) are loaded into ``ref.*`` when they change; the loader resolves each
row's district through :class:`Crosswalk`, for the row's school year.

Kept as one module though it is long: its one job is district identity, and loading the
directory into ``ref.*``, resolving a row's district and explaining an unknown one share the
normalized keys and the cached directory.
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from psycopg import Connection

from innovation_pipeline.parsing import normalize_district_code, normalize_name, school_year_label
from innovation_pipeline.warehouse import project_root

if TYPE_CHECKING:
    from innovation_pipeline.contracts import Contract

STATE_FIPS = {"CO": "08", "KY": "21", "MT": "30", "NH": "33", "ND": "38", "UT": "49", "WA": "53"}
DIRECTORY_FILES = ("districts.csv", "sample_districts.csv")
ALIAS_FILES = ("district_aliases.csv", "sample_district_aliases.csv")

# Abbreviations real files write in district names ("Adair Co.", "Anchorage Ind.", "FT THOMAS").
_ABBREVIATIONS = {
    "co": "county",
    "cnty": "county",
    "ind": "independent",
    "indep": "independent",
    "ft": "fort",
    "st": "saint",
    "mt": "mount",
    "sd": "school district",
    "dist": "district",
    "sch": "school",
    "schs": "schools",
    "elem": "elementary",
    "pub": "public",
}
# Words a file may add or drop around a district's own name ("ADAIR " for Adair County).
_GENERIC = {
    "school",
    "schools",
    "district",
    "districts",
    "public",
    "county",
    "independent",
    "the",
    "of",
    "no",
}


def name_keys(name: str) -> tuple[str, str]:
    """(exact, core) match keys of a district name: folded with abbreviations spelled out, and the
    same without generic words. ``Adair Co.`` and ``Adair County`` share the exact key;
    ``ADAIR`` shares only the core key, which matches when one district alone has it."""
    words = " ".join(_ABBREVIATIONS.get(w, w) for w in normalize_name(name).split()).split()
    core = [w for w in words if w not in _GENERIC]
    return " ".join(words), " ".join(core or words)


def reference_dir() -> Path:
    return project_root() / "programs" / "reference"


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_reference(conn: Connection, folder: Path | None = None) -> bool:
    """Load the district directory and aliases into ``ref`` if their content changed."""
    folder = folder or reference_dir()
    files = [folder / n for n in (*DIRECTORY_FILES, *ALIAS_FILES)]
    if not files[0].exists():
        return False
    digest = hashlib.sha256(b"".join(f.read_bytes() if f.exists() else b"-" for f in files)).hexdigest()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('ref.reference', 0))")
        row = conn.execute(
            "select content_sha256 from ref.reference_versions where name = 'districts'"
        ).fetchone()
        if row and row[0] == digest:
            return False
        conn.execute("delete from ref.district_aliases")
        rows = [
            {"st_leaid": "", "lea_type": "", "valid_from": "", "valid_to": "", **r}
            for r in _read_csv(files[0]) + _read_csv(files[1])
        ]
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into ref.districts (district_id, state, state_code, nces_lea_id, name, is_synthetic,
                    st_leaid, lea_type, valid_from, valid_to)
                values (%(district_id)s, %(state)s, nullif(%(state_code)s, ''), nullif(%(nces_lea_id)s, ''),
                        %(name)s, coalesce(nullif(%(is_synthetic)s, '')::boolean, false),
                        nullif(%(st_leaid)s, ''), nullif(%(lea_type)s, ''),
                        nullif(%(valid_from)s, '')::smallint, nullif(%(valid_to)s, '')::smallint)
                on conflict (district_id) do update set
                    state = excluded.state, state_code = excluded.state_code,
                    nces_lea_id = excluded.nces_lea_id, name = excluded.name, is_synthetic = excluded.is_synthetic,
                    st_leaid = excluded.st_leaid, lea_type = excluded.lea_type,
                    valid_from = excluded.valid_from, valid_to = excluded.valid_to
                """,
                rows,
            )
            # A district the directory no longer lists (an older synthetic id) must stop resolving:
            # its code may now be a real district's.
            cur.execute(
                "delete from ref.districts where not (district_id = any(%s))",
                ([r["district_id"] for r in rows],),
            )
            states = {r["district_id"]: r["state"] for r in rows}
            alias_rows = []
            for path in files[2:]:
                if path.exists():
                    with path.open(encoding="utf-8", newline="") as fh:
                        for a in csv.DictReader(fh):
                            if a["district_id"] in states:
                                alias_rows.append(
                                    (
                                        a["district_id"],
                                        states[a["district_id"]],
                                        a["alias"],
                                        normalize_name(a["alias"]),
                                    )
                                )
            cur.executemany(
                "insert into ref.district_aliases (district_id, state, alias, alias_normalized)"
                " values (%s, %s, %s, %s) on conflict do nothing",
                alias_rows,
            )
        conn.execute(
            "insert into ref.reference_versions (name, content_sha256) values ('districts', %s)"
            " on conflict (name) do update set content_sha256 = excluded.content_sha256, loaded_at = now()",
            (digest,),
        )
    return True


@dataclass(frozen=True)
class Entry:
    """A district as the crosswalk knows it, with the school years (ending, inclusive) it existed."""

    district_id: str
    state: str
    name: str
    valid_from: int | None
    valid_to: int | None
    synthetic: bool = False

    def exists_in(self, year: int | None) -> bool:
        if year is None:
            return True
        return (self.valid_from is None or year >= self.valid_from) and (
            self.valid_to is None or year <= self.valid_to
        )

    @property
    def label(self) -> str:
        years = ""
        if self.valid_from or self.valid_to:
            first = school_year_label(self.valid_from) if self.valid_from else "..."
            last = school_year_label(self.valid_to) if self.valid_to else "..."
            years = f", {first} to {last}"
        return f"{self.name} ({self.district_id}{years})"


@dataclass(frozen=True)
class Match:
    """What a lookup found: the district, or why none (``unknown``, ``ambiguous``, ``not_then``)."""

    district_id: str | None
    reason: str
    candidates: tuple[str, ...] = ()


def _index(index: dict, key: tuple, district_id: str) -> None:
    index.setdefault(key, set()).add(district_id)


def _digits_key(code: str) -> str | None:
    # '009', '09' and '9' are the same number: NH and MT files do not zero-pad.
    return code.lstrip("0") or "0" if code.isdigit() else None


_REFERENCE_FINGERPRINT = (
    "select (select (count(*), coalesce(sum(xmin::text::bigint), 0)) from ref.districts)::text,"
    " (select (count(*), coalesce(sum(xmin::text::bigint), 0)) from ref.district_aliases)::text"
)
#: (host, port, database) -> (fingerprint of ref.*, the crosswalk built from it); the newest few
#: databases only (a crosswalk is a few MB, and a test process meets many databases).
_BUILT: dict[tuple[str, int, str], tuple[object, Crosswalk]] = {}
_BUILT_KEPT = 4


@dataclass
class Crosswalk:
    """Lookups from (state, scheme, value as written) to a canonical district id, by school year."""

    entries: dict[str, Entry]
    by_code: dict[tuple, set[str]]  # (state, code) and (state, '#', code without leading zeros)
    by_nces: dict[tuple, set[str]]  # (nces id,)
    by_st_leaid: dict[tuple, set[str]]  # (ST_LEAID or district id, upper case)
    by_name: dict[tuple, set[str]]  # (state, exact name key)
    by_core: dict[tuple, set[str]]  # (state, core name key)
    # state -> {folded name: district id}, built on first use by suggest().
    _folded: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    @functools.cached_property
    def state_of(self) -> dict[str, str]:
        """District id -> state (built once: every batch maps its ids to states)."""
        return {i: e.state for i, e in self.entries.items()}

    @classmethod
    def from_db(cls, conn: Connection) -> Crosswalk:
        """The crosswalk of ``ref.*`` as ``conn`` sees it, built once per database and content.

        Building it (every district's name keys) costs about as much as landing a small file, and
        a run lands many: it is kept per database while the tables' fingerprint (row count and the
        sum of the rows' transaction ids, which any insert, update or delete changes) is the same.
        """
        fingerprint = conn.execute(_REFERENCE_FINGERPRINT).fetchone()
        where = (conn.info.host, conn.info.port, conn.info.dbname)
        cached = _BUILT.get(where)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        rows = conn.execute(
            "select district_id, state, state_code, nces_lea_id, name, st_leaid, valid_from, valid_to,"
            " is_synthetic from ref.districts"
        ).fetchall()
        aliases = conn.execute("select district_id, alias from ref.district_aliases").fetchall()
        crosswalk = cls.from_rows(rows, aliases)
        _BUILT.pop(where, None)
        _BUILT[where] = (fingerprint, crosswalk)
        while len(_BUILT) > _BUILT_KEPT:
            del _BUILT[next(iter(_BUILT))]
        return crosswalk

    @classmethod
    def from_rows(cls, rows: Iterable[tuple], aliases: Iterable[tuple[str, str]] = ()) -> Crosswalk:
        """From ``(district_id, state, state_code, nces_lea_id, name, st_leaid, valid_from, valid_to,
        is_synthetic)`` rows and ``(district_id, alias)`` pairs."""
        cw = cls({}, {}, {}, {}, {}, {})
        for district_id, state, code, nces, name, st_leaid, valid_from, valid_to, synthetic in rows:
            cw.entries[district_id] = Entry(district_id, state, name, valid_from, valid_to, bool(synthetic))
            if code:
                _index(cw.by_code, (state, code.upper()), district_id)
                if _digits_key(code) is not None:
                    _index(cw.by_code, (state, "#", _digits_key(code)), district_id)
            if st_leaid:
                _index(cw.by_st_leaid, (st_leaid.upper(),), district_id)
                local = st_leaid.split("-", 1)[-1]
                if local.upper() != (code or "").upper():  # KY's 9-digit code beside the KDE number
                    _index(cw.by_code, (state, local.upper()), district_id)
            _index(cw.by_st_leaid, (district_id.upper(),), district_id)
            if nces:
                _index(cw.by_nces, (nces,), district_id)
            cw._index_name(district_id, state, name)
        for district_id, alias in aliases:
            if district_id in cw.entries:
                cw._index_name(district_id, cw.entries[district_id].state, alias)
        return cw

    def _index_name(self, district_id: str, state: str, name: str) -> None:
        exact, core = name_keys(name)
        _index(self.by_name, (state, exact), district_id)
        _index(self.by_core, (state, core), district_id)

    def resolve(
        self,
        raw: pl.Series,
        scheme: str,
        state: str,
        width: int | None,
        keys: pl.Series | None = None,
        years: pl.Series | int | None = None,
    ) -> tuple[pl.Series, pl.Series]:
        """Canonical district ids (null where unknown, ambiguous or not existing in the row's school
        year) and each district's state.

        ``keys``: ``normalize_district_code(raw, scheme, width)`` when the caller has it already;
        ``years``: the rows' school years (ending year), or one for all rows."""
        if keys is None:
            keys = normalize_district_code(raw, scheme, width)
        if not isinstance(years, pl.Series):
            years = pl.repeat(years, len(keys), dtype=pl.Int64, eager=True)
        pairs = pl.DataFrame({"key": keys, "year": years.cast(pl.Int64)})
        found = {
            (key, year): self.lookup(key, scheme, state, year).district_id
            for key, year in pairs.unique().iter_rows()
            if key is not None
        }
        ids = pl.Series([found.get(p) for p in pairs.iter_rows()], dtype=pl.Utf8)
        states = ids.replace_strict(self.state_of, default=None, return_dtype=pl.Utf8)
        return ids, states

    def _candidates(self, key: str, scheme: str, state: str) -> list[set[str]]:
        """The candidate sets to try in order: the first that has districts decides."""
        if scheme == "nces_lea_id":
            return [self.by_nces.get((key,), set())]
        if scheme == "st_leaid":
            return [self.by_st_leaid.get((key.upper(),), set())]
        states = list(STATE_FIPS) if state == "US" else [state]
        if scheme == "state_code":
            digits = _digits_key(key)
            exact = set().union(*(self.by_code.get((s, key), set()) for s in states))
            loose = (
                set().union(*(self.by_code.get((s, "#", digits), set()) for s in states)) if digits else set()
            )
            return [exact, loose]
        exact_key, core_key = name_keys(key)
        return [
            set().union(*(self.by_name.get((s, exact_key), set()) for s in states)),
            set().union(*(self.by_core.get((s, core_key), set()) for s in states)),
        ]

    def lookup(self, key: str, scheme: str, state: str, year: int | None = None) -> Match:
        """The district ``key`` names in ``state`` (``US``: any state) in school year ``year``."""
        for found in self._candidates(key, scheme, state):
            if scheme == "nces_lea_id" or scheme == "st_leaid":
                found = {i for i in found if state == "US" or self.entries[i].state == state}
            if not found:
                continue
            then = sorted(i for i in found if self.entries[i].exists_in(year))
            if len(then) == 1:
                return Match(then[0], "ok")
            if not then:
                return Match(None, "not_then", tuple(sorted(found)))
            return Match(None, "ambiguous", tuple(then))
        return Match(None, "unknown")

    def suggest(self, value: str, state: str, limit: int = 3) -> list[str]:
        """Closest known district names, for a person fixing an unknown district."""
        by_norm = self._folded.get(state)
        if by_norm is None:
            pool = [e for e in self.entries.values() if state == "US" or e.state == state]
            by_norm = self._folded[state] = {name_keys(e.name)[0]: e.district_id for e in pool}
        exact, core = name_keys(value)
        # Districts whose own name starts with the written one's first word come first
        # ("Raceland Ind." -> Raceland-Worthington Independent), then the closest spellings.
        first = core.split()[0] if core else ""
        starts = [i for n, i in by_norm.items() if first and name_keys(n)[1].split()[:1] == [first]]
        close = difflib.get_close_matches(exact, list(by_norm), n=limit * 3, cutoff=0.5)
        ranked = list(dict.fromkeys(sorted(starts) + [by_norm[c] for c in close]))
        return self._same_kind(ranked, limit)

    def _same_kind(self, ids: list[str], limit: int) -> list[str]:
        # A real file is shown real districts, a sample file sample ones: the kind of the closest.
        if not ids:
            return []
        kind = self.entries[ids[0]].synthetic
        return [self.entries[i].label for i in ids if self.entries[i].synthetic == kind][:limit]

    def _near_codes(self, value: str, state: str, limit: int = 3) -> list[str]:
        codes = {
            k[1]: ids for k, ids in self.by_code.items() if len(k) == 2 and (state == "US" or k[0] == state)
        }
        close = difflib.get_close_matches(value.upper(), list(codes), n=limit * 3, cutoff=0.5)
        return self._same_kind([i for c in close for i in sorted(codes[c])], limit)

    def explain_unknown(self, value: str, scheme: str, state: str, year: int | None = None) -> str:
        """Why ``value`` names no district, in words, with the closest candidates."""
        key = normalize_district_code(pl.Series([value]), scheme, None)[0] or ""
        if scheme == "nces_lea_id":
            key = key.zfill(7) if key.isdigit() else key
        match = self.lookup(key, scheme, state, year)
        in_year = f" in {school_year_label(year)}" if year else ""
        what = {"nces_lea_id": "NCES LEA ID", "st_leaid": "CCD state LEA id", "state_code": "district code"}
        kind = what.get(scheme, "district name")
        if match.reason == "ambiguous":
            names = "; ".join(self.entries[i].label for i in match.candidates[:5])
            return f"{kind} {value!r} could be any of several {state} districts{in_year}: {names}; write the code"
        if match.reason == "ok" and year is None:
            # A file of several years: the row's year, not known here, is outside the district's.
            return f"{kind} {value!r} names {self.entries[match.district_id or ''].label}, which did not exist then"
        if match.reason == "not_then":
            names = "; ".join(self.entries[i].label for i in match.candidates[:5])
            return f"{kind} {value!r} names a district that did not exist{in_year}: {names}"
        if scheme == "nces_lea_id":
            hit = self.by_nces.get((key,))
            if hit:
                other = self.entries[sorted(hit)[0]]
                return f"NCES LEA ID {value!r} belongs to {other.state} ({other.label}), not {state}"
            fips = STATE_FIPS.get(state)
            if fips and not key.startswith(fips):
                return f"NCES LEA ID {value!r} does not start with {state}'s code {fips}"
            return f"NCES LEA ID {value!r} is not in the {state} district directory"
        if scheme in ("state_code", "st_leaid"):
            near = self._near_codes(re.sub(r"^[A-Z]{2}-", "", key), state)
            suffix = f"; closest known codes: {'; '.join(near)}" if near else ""
            return f"{kind} {value!r} is not in the {state} district directory{suffix}"
        hint = self.suggest(value, state)
        suffix = f"; closest known: {'; '.join(hint)}" if hint else ""
        return f"district name {value!r} is not in the {state} district directory{suffix}"


def provider_key(written: str) -> str:
    """A provider as the file name writes it, folded: ``NH-Academy-of-Science`` and
    ``nh_academy_of_science`` are one submitter, ``nh-academy-of-science``."""
    return re.sub(r"[^a-z0-9]+", "-", normalize_name(written)).strip("-")


def canonical_submitter(
    crosswalk: Crosswalk,
    contract: Contract,
    written: str | None,
    school_year: int | None,
) -> tuple[str | None, str | None]:
    """(submitter, its district) as ``audit.submissions`` records them, for loaded and rejected
    files alike: a district by its canonical id (``KY-263``, never ``263``), a state by its code,
    a provider folded (``provider_key``)."""
    c = contract
    if c.district.role == "submitter":
        if not written:
            return None, None
        ids, _ = crosswalk.resolve(
            pl.Series([written]), c.district.scheme, c.state, c.district.width, years=school_year
        )
        return ids[0], ids[0]
    if c.submitter == "state":
        return (written or c.state).upper(), None
    return (provider_key(written) if written else None), None
