"""District identity: every state's codes and name variants to one canonical district.

The directory (``programs/reference/districts.csv``) and its name variants
(``programs/reference/district_aliases.csv``) are loaded into ``ref.*`` when they change; the
loader resolves each row's district through :class:`Crosswalk`.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from psycopg import Connection

from innovation_pipeline.parsing import normalize_district_code, normalize_name
from innovation_pipeline.warehouse import project_root

STATE_FIPS = {"CO": "08", "KY": "21", "MT": "30", "NH": "33", "ND": "38", "UT": "49", "WA": "53"}


def reference_dir() -> Path:
    return project_root() / "programs" / "reference"


def load_reference(conn: Connection, folder: Path | None = None) -> bool:
    """Load the district directory and aliases into ``ref`` if their content changed."""
    folder = folder or reference_dir()
    districts, aliases = folder / "districts.csv", folder / "district_aliases.csv"
    if not districts.exists():
        return False
    digest = hashlib.sha256(
        districts.read_bytes() + (aliases.read_bytes() if aliases.exists() else b"")
    ).hexdigest()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('ref.reference', 0))")
        row = conn.execute(
            "select content_sha256 from ref.reference_versions where name = 'districts'"
        ).fetchone()
        if row and row[0] == digest:
            return False
        conn.execute("delete from ref.district_aliases")
        # Rows are only ever added or renamed: keep ids stable for downstream foreign keys.
        with districts.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into ref.districts (district_id, state, state_code, nces_lea_id, name, is_synthetic)
                values (%(district_id)s, %(state)s, nullif(%(state_code)s, ''), nullif(%(nces_lea_id)s, ''),
                        %(name)s, coalesce(nullif(%(is_synthetic)s, '')::boolean, false))
                on conflict (district_id) do update set
                    state = excluded.state, state_code = excluded.state_code,
                    nces_lea_id = excluded.nces_lea_id, name = excluded.name, is_synthetic = excluded.is_synthetic
                """,
                rows,
            )
            states = {r["district_id"]: r["state"] for r in rows}
            alias_rows = []
            if aliases.exists():
                with aliases.open(encoding="utf-8", newline="") as fh:
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


@dataclass
class Crosswalk:
    """Lookups from (state, scheme, normalized value) to a canonical district id."""

    by_code: dict[tuple[str, str], str]
    by_nces: dict[str, tuple[str, str]]  # nces id -> (district_id, state)
    by_name: dict[tuple[str, str], str]
    names: dict[str, list[tuple[str, str]]]  # state -> [(display name, district_id)]
    state_of: dict[str, str]
    # state -> {folded name: "Name (id)"}, built on first use by suggest().
    _folded: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_db(cls, conn: Connection) -> Crosswalk:
        by_code: dict[tuple[str, str], str] = {}
        by_nces: dict[str, tuple[str, str]] = {}
        by_name: dict[tuple[str, str], str] = {}
        names: dict[str, list[tuple[str, str]]] = {}
        state_of: dict[str, str] = {}
        for district_id, state, code, nces, name in conn.execute(
            "select district_id, state, state_code, nces_lea_id, name from ref.districts"
        ):
            state_of[district_id] = state
            if code:
                by_code[(state, code.upper())] = district_id
            if nces:
                by_nces[nces] = (district_id, state)
            by_name[(state, normalize_name(name))] = district_id
            names.setdefault(state, []).append((name, district_id))
        for district_id, state, alias_norm in conn.execute(
            "select district_id, state, alias_normalized from ref.district_aliases"
        ):
            by_name.setdefault((state, alias_norm), district_id)
        return cls(by_code, by_nces, by_name, names, state_of)

    def resolve(
        self, raw: pl.Series, scheme: str, state: str, width: int | None, keys: pl.Series | None = None
    ) -> tuple[pl.Series, pl.Series]:
        """Canonical district ids (null where unknown) and each district's state.

        ``keys``: ``normalize_district_code(raw, scheme, width)`` when the caller has it already.
        """
        if keys is None:
            keys = normalize_district_code(raw, scheme, width)
        uniques = [k for k in keys.unique().to_list() if k is not None]
        found: dict[str, str] = {}
        for key in uniques:
            district_id = self.lookup(key, scheme, state)
            if district_id:
                found[key] = district_id
        ids = keys.replace_strict(found, default=None, return_dtype=pl.Utf8)
        states = ids.replace_strict(self.state_of, default=None, return_dtype=pl.Utf8)
        return ids, states

    def lookup(self, key: str, scheme: str, state: str) -> str | None:
        if scheme == "state_code":
            return self.by_code.get((state, key))
        if scheme == "nces_lea_id":
            hit = self.by_nces.get(key)
            if hit and (state == "US" or hit[1] == state):
                return hit[0]
            return None
        if state == "US":
            matches = {v for (s, n), v in self.by_name.items() if n == key}
            return matches.pop() if len(matches) == 1 else None
        return self.by_name.get((state, key))

    def suggest(self, value: str, state: str, limit: int = 3) -> list[str]:
        """Closest known district names, for a person fixing an unknown district."""
        by_norm = self._folded.get(state)
        if by_norm is None:
            pool = self.names.get(state, []) if state != "US" else [n for v in self.names.values() for n in v]
            by_norm = self._folded[state] = {normalize_name(n): f"{n} ({d})" for n, d in pool}
        close = difflib.get_close_matches(normalize_name(value), list(by_norm), n=limit, cutoff=0.5)
        return [by_norm[c] for c in close]

    def explain_unknown(self, value: str, scheme: str, state: str) -> str:
        if scheme == "nces_lea_id":
            digits = "".join(ch for ch in value if ch.isdigit()).zfill(7)
            hit = self.by_nces.get(digits)
            if hit and hit[1] != state:
                return f"NCES LEA ID {value!r} belongs to {hit[1]}, not {state}"
            fips = STATE_FIPS.get(state)
            if fips and not digits.startswith(fips):
                return f"NCES LEA ID {value!r} does not start with {state}'s code {fips}"
            return f"NCES LEA ID {value!r} is not in the {state} district directory"
        if scheme == "state_code":
            return f"district code {value!r} is not in the {state} district directory"
        hint = self.suggest(value, state)
        suffix = f"; closest known: {', '.join(hint)}" if hint else ""
        return f"district name {value!r} is not in the {state} district directory{suffix}"
