"""``innovation-pipeline draft FILE``: a first contract written from a sample file.

It reads the file the way a data engineer would on first sight: which sheet, which row is the
header, which rows are titles, notes, repeated headers and totals, what each column holds (ids,
counts, rates and their scale, amounts, markers), which column names the district and by which
scheme (tried against the district directory), where the school year is, and which column names
carry a year. Everything it guessed is listed at the top of the YAML for a person to review: the
draft is a starting point, never a silent guess.

Kept as one module though it is long: one command whose steps (reading, guessing what cells hold,
writing the YAML) pass one record of guesses along, so that every guess is listed in the draft.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

from innovation_pipeline.contracts import DEFAULT_MARKERS, RESERVED_COLUMNS
from innovation_pipeline.parsing import header_school_year, marker_key, normalize_name, parse_school_year
from innovation_pipeline.readers import HEADER_SCAN_ROWS, _cell_text, detect_encoding, sniff_bytes

MAX_ROWS = 200_000
STATES = ("CO", "KY", "MT", "ND", "NH", "UT", "WA")
STATE_NAMES = {
    "COLORADO": "CO",
    "KENTUCKY": "KY",
    "MONTANA": "MT",
    "NORTH DAKOTA": "ND",
    "NEW HAMPSHIRE": "NH",
    "UTAH": "UT",
    "WASHINGTON": "WA",
}
FIPS = {"08": "CO", "21": "KY", "30": "MT", "33": "NH", "38": "ND", "49": "UT", "53": "WA"}
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_BAND = re.compile(
    r"(?i)^(?:n\s*)?(?:<\s*=?|>\s*=?|≤|≥|ge|gt|le|lt)\s*\d+(?:\.\d+)?\s*%?$"
    r"|^\d+(?:\.\d+)?\s*%?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*%?$"
    r"|^\d+\s*or\s*(?:less|fewer|more|greater)$"
)
_ID_NAME = re.compile(r"(?i)(\bid\b|_id$|code|number|\bno\b|#|leaid|ncessch|zip|phone|fips|^st$|_leaid)")
_YEAR_IN_NAME = re.compile(r"^(?P<stem>.*?[_ \-]?)(?P<year>(?:19|20)\d{2}(?:-\d{2,4})?|\d{4})$")
_TOTAL = re.compile(r"(?i)\btotals?\b")
_STATE_TOTAL = re.compile(r"(?i)\b(state|statewide)\b.*\btotals?\b|^state$|^statewide$")
_STOP_WORDS = re.compile(r"(?i)^(foot ?notes?|notes?|sources?|data sources?|end of (work)?sheet)\b")


@dataclass
class Directory:
    """The district directory the loader resolves against, keyed for each scheme."""

    codes: dict[str, set[str]] = field(default_factory=dict)  # state -> state codes
    nces: dict[str, str] = field(default_factory=dict)  # nces id -> state
    names: dict[str, set[str]] = field(default_factory=dict)  # state -> folded names

    @classmethod
    def from_rows(cls, rows: list[dict[str, str]], aliases: list[dict[str, str]] | None = None) -> Directory:
        d = cls()
        state_of = {}
        for r in rows:
            state_of[r["district_id"]] = r["state"]
            if r.get("state_code"):
                d.codes.setdefault(r["state"], set()).add(r["state_code"].upper())
            if r.get("nces_lea_id"):
                d.nces[r["nces_lea_id"]] = r["state"]
            d.names.setdefault(r["state"], set()).add(normalize_name(r["name"]))
        for a in aliases or []:
            if a["district_id"] in state_of:
                d.names.setdefault(state_of[a["district_id"]], set()).add(normalize_name(a["alias"]))
        return d

    @classmethod
    def from_reference(cls) -> Directory:
        from innovation_pipeline.crosswalk import reference_dir

        folder = reference_dir()

        def read(name: str) -> list[dict[str, str]]:
            path = folder / name
            if not path.exists():
                return []
            with path.open(encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))

        return cls.from_rows(read("districts.csv"), read("district_aliases.csv"))


@dataclass
class Sheet:
    name: str | None
    rows: list[tuple[int, list[str | None]]]  # (1-based row number, cells as text)
    delimiter: str | None = None
    encoding: str | None = None


# --- reading ------------------------------------------------------------------------------------


def _read_csv(path: Path) -> Sheet:
    head = sniff_bytes(path, path.name)
    encoding = detect_encoding(path, "auto", head)
    text = path.read_text(encoding=encoding, errors="replace")
    first = text.splitlines()[:HEADER_SCAN_ROWS]
    delimiter = max([",", ";", "|", "\t"], key=lambda d: sum(line.count(d) for line in first))
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
        rows.append((number, [c if c != "" else None for c in row]))
        if number >= MAX_ROWS:
            break
    return Sheet(None, rows, delimiter, encoding)


def _read_excel(path: Path) -> tuple[Sheet, list[str]]:
    import openpyxl

    wb = openpyxl.load_workbook(path.open("rb"), read_only=True, data_only=True)
    best: Sheet | None = None
    for ws in wb.worksheets:
        rows = []
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(c) for c in row]
            rows.append((number, [c if c not in (None, "") else None for c in cells]))
            if number >= MAX_ROWS:
                break
        filled = sum(1 for _, r in rows if any(r))
        if best is None or filled > sum(1 for _, r in best.rows if any(r)):
            best = Sheet(ws.title, rows)
    assert best is not None
    return best, wb.sheetnames


def _read_json(path: Path) -> tuple[Sheet, str | None]:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    records_path = None
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                records_path, data = key, value
                break
    header: list[str] = []
    for rec in data:
        if isinstance(rec, dict):
            header.extend(k for k in rec if k not in header)
    rows: list[tuple[int, list[str | None]]] = [(0, list[str | None](header))]
    rows += [
        (n, [_cell_text(rec.get(k)) if isinstance(rec, dict) else None for k in header])
        for n, rec in enumerate(data, start=1)
    ]
    return Sheet(None, rows), records_path


# --- what the cells hold ---------------------------------------------------------------------


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(re.sub(r"[,\s$]", "", text).removesuffix("%")))


def _find_header(rows: list[tuple[int, list[str | None]]]) -> int:
    """Index (in ``rows``) of the header: the first row of many text cells followed by data."""
    best, best_score = 0, -1
    for i, (_, row) in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = [c for c in row if c and not _is_number(c)]
        if len(texts) < 2:
            continue
        below = [r for _, r in rows[i + 1 : i + 6] if any(r)]
        width = sum(1 for c in row if c)
        fits = sum(1 for r in below if sum(1 for c in r if c) >= width * 0.5)
        score = len(texts) * 2 + fits
        if score > best_score:
            best, best_score = i, score
    return best


def _snake(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "column"
    return s if s[0].isalpha() else f"c_{s}"


@dataclass
class Column:
    index: int
    name: str
    values: list[str]  # non-blank data values
    blanks: int

    def kind(self) -> str:
        numbers = [v for v in self.values if _is_number(v)]
        if not self.values or len(numbers) < len(self.values) * 0.5:
            return "text"
        if _ID_NAME.search(self.name):
            return "text"
        stripped = [re.sub(r"[,\s$]", "", v) for v in numbers]
        top = max(float(v.removesuffix("%")) for v in stripped)
        named_rate = re.search(r"(?i)rate|percent|pct|%", self.name) and not re.search(
            r"(?i)count", self.name
        )
        if any(v.endswith("%") for v in stripped) or (named_rate and top <= 100):
            return "rate"
        if any("$" in v for v in numbers):
            return "money"
        if all(re.fullmatch(r"[+-]?\d+(\.0+)?", v) for v in stripped):
            return "integer"
        return "number"

    def markers(self) -> tuple[list[str], bool]:
        """Non-numeric values of a numeric column: the markers (as written) and whether bands occur."""
        others = Counter(v.strip() for v in self.values if not _is_number(v))
        bands = any(_BAND.match(v) for v in others)
        return sorted(v for v in others if not _BAND.match(v)), bands


def _columns(header: list[str | None], data: list[list[str | None]]) -> list[Column]:
    cols = []
    for i, name in enumerate(header):
        if not name or not str(name).strip():
            continue
        cells = [r[i] if i < len(r) else None for r in data]
        values = [c for c in cells if c is not None and c.strip()]
        cols.append(Column(i, " ".join(str(name).split()), values, len(cells) - len(values)))
    return cols


# --- the draft -------------------------------------------------------------------------------

_DISTRICT_NAME = re.compile(r"(?i)district|lea|location")


def _scores(col: Column, directory: Directory, state_hint: str | None) -> list[tuple[float, str, str]]:
    """(share of the column's distinct values the directory knows, scheme, state) per guess."""
    values = set(col.values[:5000])
    scores: list[tuple[float, str, str]] = []
    digits = {v.strip() for v in values if v.strip().isdigit()}
    nces = Counter(directory.nces.get(v.zfill(7)) for v in digits if len(v) >= 6)
    nces.pop(None, None)
    if nces:
        scores.append((sum(nces.values()) / len(values), "nces_lea_id", str(nces.most_common(1)[0][0])))
    # A multi-state file can only name districts by NCES id; a one-state file by its codes or names.
    states = [] if state_hint == "US" else [state_hint] if state_hint else list(directory.codes)
    for state in states:
        codes = directory.codes.get(state, set())
        widths = {len(c) for c in codes if c.isdigit()}
        hits = sum(1 for v in digits if any(v.zfill(w) in codes for w in widths))
        if hits:
            scores.append((hits / len(values), "state_code", state))
        names = directory.names.get(state, set())
        hits = sum(1 for v in values if normalize_name(v) in names)
        if hits:
            scores.append((hits / len(values) * 0.95, "name", state))  # codes beat names
    if not scores and _DISTRICT_NAME.search(col.name):
        scores.append((0.0, "name", state_hint or "US"))  # named for districts, spelled otherwise
    return scores


def _district(
    cols: list[Column], directory: Directory, state_hint: str | None
) -> tuple[Column, str, str, str, float]:
    """(column, scheme, state, note, share of values known): the column the directory knows best."""
    best: tuple[float, Column, str, str, float] | None = None
    for col in cols:
        scores = _scores(col, directory, state_hint) if col.values else []
        if not scores:
            continue
        known, scheme, state = max(scores)
        rate = known
        if _DISTRICT_NAME.search(col.name):
            rate += 0.3  # a column named for districts beats counts that happen to look like codes
        elif col.kind() != "text":
            rate *= 0.5
        if len(set(col.values)) < 5:
            rate *= 0.2  # a handful of distinct values is a type or a flag, not the districts
        if best is None or rate > best[0]:
            best = (rate, col, scheme, state, known)
    if best is None:
        return cols[0], "name", state_hint or "US", "no district column recognised: TODO choose one", 0.0
    _, col, scheme, state, known = best
    note = f"{known:.0%} of its values are in the {state} directory as {scheme}"
    return col, scheme, state, note, known


def _state(path: Path, cols: list[Column]) -> str | None:
    prefix = path.name[:2].upper()
    if prefix in STATES:
        return prefix
    for col in cols:
        if col.name.upper() in ("ST", "STATE", "STNAM", "STATE NAME"):
            states = {STATE_NAMES.get(v.upper(), v.upper()) for v in col.values}
            return states.pop() if len(states) == 1 else "US"
    return None


def _year_in_name(name: str) -> tuple[str, str] | None:
    """(regex for the file name with a school_year group, the year as written) or None."""
    for pattern in (
        r"(?i)sy\s*(\d{4}-\d{2,4})",
        r"(\d{4}-\d{2,4})",
        r"(?i)sy\s*(\d{4})",
        r"(?<!\d)(20\d{2})(?!\d)",
    ):
        m = re.search(pattern, name)
        if m and parse_school_year(m.group(1))["error"] is None:
            before, after = name[: m.start(1)], name[m.end(1) :]
            written = m.group(1)
            shape = re.sub(r"\d", r"\\d", re.escape(written))
            return f"^{re.escape(before)}(?P<school_year>{shape}){re.escape(after)}$", written
    return None


def _filled(r: list[str | None]) -> int:
    return sum(1 for c in r if c)


def _folded(cell: str | None) -> str:
    return re.sub(r"\s+", "", cell or "").lower()


class _Draft:
    """One sample file read and guessed at, section by section; ``notes`` says what was guessed."""

    def __init__(self, path: Path, directory: Directory, state: str | None):
        self.path, self.directory, self.state = path, directory, state
        self.notes: list[str] = []
        self.file: dict = {}
        self.read()
        self.cols = _columns(self.header, [r for _, r in self.content])

    def read(self) -> None:
        suffix = self.path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            sheet, sheetnames = _read_excel(self.path)
            self.file = {"format": "excel", "sheet": sheet.name}
            if len(sheetnames) > 1:
                self.notes.append(f"sheet {sheet.name!r} chosen (most filled) among {sheetnames}")
        elif suffix == ".json":
            sheet, records_path = _read_json(self.path)
            self.file = {"format": "json", **({"records_path": records_path} if records_path else {})}
        else:
            sheet = _read_csv(self.path)
            self.file = {"format": "csv", "delimiter": sheet.delimiter}
        h = 0 if suffix == ".json" else _find_header(sheet.rows)
        header_row, self.header = sheet.rows[h]
        if suffix != ".json":
            self.file["header_row"] = header_row
            if h:
                self.notes.append(f"header on row {header_row}; {h} title row(s) above it are not read")
        named = [(i, _folded(c)) for i, c in enumerate(self.header) if c and c.strip()]

        def header_again(r: list[str | None]) -> bool:
            # The header repeated above a section, perhaps spelled a little differently ('Pre School').
            same = sum(1 for i, name in named if i < len(r) and _folded(r[i]) == name)
            return same >= max(2, len(named) // 2)

        body = sheet.rows[h + 1 :]
        self.repeated = [n for n, r in body if header_again(r)]
        content = [(n, r) for n, r in body if any(r) and n not in self.repeated]
        # Rows after the last row that looks like data (notes, footnotes, sources) end the data.
        data_like = [i for i, (_, r) in enumerate(content) if _filled(r) >= max(2, len(self.header) * 0.4)]
        self.stop_text = None
        if data_like and content[data_like[-1] + 1 :]:
            tail = content[data_like[-1] + 1 :]
            self.stop_text = next((c for c in tail[0][1] if c), "").strip()
            self.notes.append(
                f"data ends before {self.stop_text!r} (row {tail[0][0]}): {len(tail)} trailing row(s)"
            )
        self.content = content[: data_like[-1] + 1] if data_like else content

    def district(self) -> dict:
        state_hint = self.state or _state(self.path, self.cols)
        col, scheme, dir_state, note, known = _district(self.cols, self.directory, state_hint)
        self.district_col, self.scheme = col, scheme
        self.notes.append(f"district: column {col.name!r} as {scheme} ({note})")
        if known < 0.5 and state_hint not in (None, "US"):
            self.notes.append(
                "TODO: most district values are not in the directory: add their spellings to"
                " programs/reference/district_aliases.csv, or choose another column"
            )
        multi = scheme == "nces_lea_id" and state_hint in (None, "US")
        self.contract_state = self.state or ("US" if multi else (state_hint or dir_state))
        rule: dict = {"scheme": scheme, "column": col.name}
        if scheme == "state_code":
            # Zero-pad to the width of the codes the values match (Excel drops leading zeros).
            codes = self.directory.codes.get(dir_state, set())
            lengths = {len(c) for c in codes}
            widths = Counter(w for v in col.values if v.isdigit() for w in lengths if v.zfill(w) in codes)
            if widths:
                rule["width"] = widths.most_common(1)[0][0]
        return rule

    def rows(self) -> dict:
        """Stop, skip and state-total rules: totals with no district, section titles, repeated headers."""
        header, di = self.header, self.district_col.index
        rules: dict = {"stop_at": [{"equals": self.stop_text}]} if self.stop_text else {}
        skip: list[dict] = []
        if self.repeated:
            first = header[self.cols[0].index]
            skip.append({"column": first, "equals": first})
            self.notes.append(f"the header repeats on {len(self.repeated)} row(s): skipped")
        no_district = [(n, r) for n, r in self.content if di >= len(r) or not r[di]]
        state_rows = [(n, r) for n, r in self.content if any(c and _STATE_TOTAL.search(c.strip()) for c in r)]
        if state_rows:
            n, r = state_rows[0]
            ci = next(i for i, c in enumerate(r) if c and _STATE_TOTAL.search(c.strip()))
            label = (r[ci] or "").strip()
            if ci < len(header) and header[ci]:
                cond = {"column": header[ci], "equals": label}
                no_code = ci != di and (di >= len(r) or not r[di])
                rules["state_total"] = (
                    {"all": [cond, {"column": header[di], "blank": True}]} if no_code else cond
                )
                self.notes.append(f"state total: row {n} ({label!r})")
        totals = [
            (n, r)
            for n, r in no_district
            if any(c and _TOTAL.search(c) for c in r) and (n, r) not in state_rows[:1]
        ]
        if totals:
            texts = sorted({next(c for c in r if c and _TOTAL.search(c)).strip() for _, r in totals})
            col = next(i for i, c in enumerate(totals[0][1]) if c and _TOTAL.search(c))
            blank = {"column": header[di], "blank": True}
            conds = [blank, {"column": header[col], "matches": r"\btotals?\b"}]
            if "state_total" in rules:
                conds.append({"not": rules["state_total"]})  # skip rules apply to the state row too
            skip.append({"all": conds})
            self.notes.append(f"{len(totals)} other total row(s) skipped: {texts[:4]}")
        sections = [
            (n, r)
            for n, r in no_district
            if (n, r) not in totals and (n, r) not in state_rows and _filled(r) <= 2
        ]
        last_numeric = next((c for c in reversed(self.cols) if c.kind() != "text"), None)
        if sections and last_numeric is not None:
            blank = {"column": header[di], "blank": True}
            skip.append({"all": [blank, {"column": last_numeric.name, "blank": True}]})
            self.notes.append(f"{len(sections)} title or note row(s) without a district skipped")
        return {**({"skip": skip} if skip else {}), **rules}

    def school_year(self) -> dict:
        """From a column of years, else from the file name; sets the file pattern."""

        def years_ok(c: Column) -> bool:
            return all(parse_school_year(v, 1990, 2035)["error"] is None for v in set(c.values[:2000]))

        self.year_col = next(
            (
                c
                for c in self.cols
                if re.search(r"(?i)year|timeframe|^sy$", c.name) and c.values and years_ok(c)
            ),
            None,
        )
        name = self.path.name
        in_name = _year_in_name(name)
        self.file_year = header_school_year(in_name[1], 1990, 2035) if in_name else None
        if self.year_col is not None:
            col = self.year_col
            years = sorted({parse_school_year(v, 1990, 2035)["value"] for v in col.values})
            self.notes.append(f"school year from column {col.name!r} ({years[0]}..{years[-1]})")
            # The name's digits vary from file to file; the year is the column's.
            stem = re.sub(r"(?:\\d)+", r"\\d+", re.sub(r"\d", r"\\d", re.escape(self.path.stem)))
            self.file = {"pattern": f"^{stem}{re.escape(self.path.suffix)}$", **self.file}
            rule = {"source": "column", "column": col.name, "min_year": min(years[0], 2000)}
            if len(years) > 1:
                self.notes.append(f"{len(years)} school years in one file: each lands as its own submission")
                rule["several"] = True
            return rule
        if in_name:
            self.notes.append(f"school year from the file name ({in_name[1]!r})")
            self.file = {"pattern": in_name[0], **self.file}
            return {"min_year": min(self.file_year or 2000, 2000)}
        self.notes.append("TODO: no school year in the file name or a column: name files ..._2024-25")
        pattern = f"^{re.escape(self.path.stem)}(?:_(?P<school_year>[^_.]+))?{re.escape(self.path.suffix)}$"
        self.file = {"pattern": pattern, **self.file}
        return {}

    def field(self, col: Column, used: set[str]) -> tuple[dict, list[str], bool]:
        """One field, its markers, and whether its column name carries the year."""
        col_source: str | dict = col.name
        name = _snake(col.name)
        m = _YEAR_IN_NAME.match(col.name)
        year = header_school_year(m.group("year"), 1990, 2035) if m and m.group("stem") else None
        year_named = year is not None and (self.file_year is None or year == self.file_year)
        if year_named and m:
            stem = m.group("stem")
            col_source = {"pattern": f"{re.escape(stem)}(\\d{{{len(m.group('year'))}}})"}
            name = _snake(stem) or name
        if name in RESERVED_COLUMNS:
            name = f"{name}_as_written"
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        kind = col.kind()
        spec: dict = {"name": name, "source": col_source, "type": kind}
        markers: list[str] = []
        if kind != "text":
            markers, bands = col.markers()
            if markers or bands:
                spec["suppressible"] = True
            if kind in ("integer", "money"):
                spec["min"] = 0
            if kind == "rate":
                numbers = [float(re.sub(r"[,\s$%]", "", v)) for v in col.values if _is_number(v)]
                pct = any(v.strip().endswith("%") for v in col.values) or any(x > 1 for x in numbers)
                spec["format"] = "percent" if pct else "fraction"
        if col.blanks:
            spec["required"] = False
        return spec, markers, year_named

    def fields(self) -> tuple[list[dict], list[str]]:
        fields: list[dict] = []
        used: set[str] = set()
        seen: set[str] = set()
        year_named: list[str] = []
        for col in self.cols:
            if col is self.district_col or col is self.year_col:
                continue
            spec, markers, named = self.field(col, used)
            fields.append(spec)
            seen.update(markers)
            if named:
                year_named.append(col.name)
        if year_named:
            more = " ..." if len(year_named) > 4 else ""
            self.notes.append(f"year-named columns read by a pattern: {year_named[:4]}{more}")
        defaults = {marker_key(d) for d in DEFAULT_MARKERS}
        markers = sorted(seen, key=lambda m: (marker_key(m) not in defaults, m))
        if markers:
            self.notes.append(f"suppression markers seen: {markers}")
        return fields, markers


def draft_contract(
    path: Path, source: str | None = None, state: str | None = None, directory: Directory | None = None
) -> str:
    """The YAML text of a first contract for files like ``path``, with what was guessed on top."""
    path = Path(path)
    d = _Draft(path, directory or Directory.from_reference(), state)
    district = d.district()
    rows = d.rows()
    school_year = d.school_year()
    fields, markers = d.fields()
    natural_key = _natural_key(d.cols, fields, d.district_col, d.year_col, d.content)
    d.notes.append(f"natural key: {natural_key}")
    contract = {
        "source": source or _snake(path.stem)[:63],
        "title": f"TODO title ({path.name})",
        "state": d.contract_state,
        "program": "state_outcomes",
        "kind": "outcomes",
        "entity": "TODO: what one row is",
        "submitter": "state",
        "due": {"month": 12, "day": 31},
        "file": d.file,
        **({"rows": rows} if rows else {}),
        "district": district,
        **({"school_year": school_year} if school_year else {}),
        **({"suppression": {"markers": markers}} if markers else {}),
        "fields": fields,
        "natural_key": natural_key,
    }
    lines = [
        f"# Drafted by `innovation-pipeline draft` from {path.name}: review every line, then",
        "# run `innovation-pipeline check THIS.yml --file SAMPLE` and `preview`. What was guessed:",
    ]
    lines += [f"#  - {n}" for n in d.notes]
    return "\n".join(lines) + "\n" + yaml.safe_dump(contract, sort_keys=False, allow_unicode=True, width=110)


def _natural_key(
    cols: list[Column],
    fields: list[dict],
    district_col: Column,
    year_col: Column | None,
    content: list[tuple[int, list[str | None]]],
) -> list[str]:
    """The smallest set of district and text columns unique within a school year."""
    by_index = {c.index: c for c in cols}
    text_fields = [
        (f["name"], next(c.index for c in cols if c.name == f["source"]))
        for f in fields
        if f["type"] == "text" and isinstance(f["source"], str) and f.get("required") is not False
    ]
    di = district_col.index
    yi = year_col.index if year_col else None

    def unique(indexes: list[int]) -> bool:
        keys = [
            tuple(r[i] if i < len(r) else None for i in ([yi] if yi is not None else []) + indexes)
            for _, r in content
            if di < len(r) and r[di]
        ]
        return len(keys) == len(set(keys))

    if unique([di]):
        return ["district_id"]
    for name, i in text_fields:
        if _ID_NAME.search(by_index[i].name) and unique([i]):
            return [name]
    for name, i in text_fields:
        if unique([di, i]):
            return ["district_id", name]
    return ["district_id", *[n for n, _ in text_fields[:2]]]


def directory_from_frame(frame: pl.DataFrame) -> Directory:
    """A directory from rows shaped like ``ref.districts``."""
    return Directory.from_rows(frame.to_dicts())
