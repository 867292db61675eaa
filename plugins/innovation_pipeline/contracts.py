"""Submission contracts: one YAML per source in ``programs/``, validated when loaded.

A contract is everything a data engineer writes to onboard a program or a changed file layout:
who submits, how the file is laid out, how its columns map to canonical fields, how identifiers,
school years, numbers and suppression markers are written, and when it is due.
See ``programs/README.md`` for every key.

Kept as one module though it is long: it is the schema of one YAML file, and its models'
validators check keys against each other (a field against the file layout, the school year against
the district rules); split, a key would sit apart from the rule that checks it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from innovation_pipeline.transform_spec import MeasureDefinition, ProgramDetails, Transform, check_rules

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
# Columns every raw table has: a field of the same name would collide with them.
RESERVED_COLUMNS = {"district_id", "school_year", "row_kind", "state", "district_source_value"}

FieldType = Literal["text", "category", "integer", "number", "rate", "money", "date", "boolean", "student_id"]
NUMERIC_TYPES = {"integer", "number", "rate", "money"}
# Markers every contract knows; compared without case or spaces ('- -' is '--').
DEFAULT_MARKERS = ("*", "**", "--", "(-)", "PS", "n/a", "N<10")


class ContractError(ValueError):
    """A contract that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    # A typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileLayout(_Strict):
    """How the file is written."""

    pattern: str = Field(description="Regex on the file name; named groups submitter and school_year.")
    format: Literal["csv", "excel", "json"]
    delimiter: Literal["auto", ",", ";", "|", "\t"] = "auto"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "cp1252", "latin-1"] = "auto"
    sheet: str | int | None = None
    header_row: int | Literal["auto"] = "auto"
    header_rows: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1, description="Rows the header spans (a merged group header above the column header)."
    )
    records_path: str | None = Field(default=None, description="JSON: dotted path to the list of records.")

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from exc
    return value


class RowMatch(_Strict):
    """A condition on a row: tests on one source column, or ``all``/``any``/``not`` of conditions.

    Tests on one column (all of them must hold): ``equals`` (case-insensitive, trimmed), ``in``
    (a list of such values), ``matches`` (regex, case-insensitive, searched), ``gt``/``ge``/``lt``/``le``
    (the cell read as a number: "1,204", "85%" and "$12" are numbers; anything else fails the test)
    and ``blank`` (true: the cell is empty). Omitting ``column`` tests the row's first non-empty cell.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    column: str | None = Field(default=None, description="Source column; omitted means the first cell.")
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    matches: str | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    blank: bool | None = None
    all_: list[RowMatch] | None = Field(default=None, alias="all")
    any_: list[RowMatch] | None = Field(default=None, alias="any")
    not_: RowMatch | None = Field(default=None, alias="not")

    @field_validator("matches")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)

    @field_validator("equals", "in_", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # YAML reads `equals: 2009` as a number; a cell is compared as the text it shows.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
        return value

    @property
    def tests(self) -> dict[str, object]:
        """The tests this condition makes on its column (empty for a compound condition)."""
        names = ("equals", "in_", "matches", "gt", "ge", "lt", "le", "blank")
        return {n.rstrip("_"): getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def parts(self) -> list[RowMatch]:
        return [*(self.all_ or []), *(self.any_ or []), *([self.not_] if self.not_ else [])]

    def columns(self) -> list[str | None]:
        """Every column this condition (and the conditions inside it) reads; None is the first cell."""
        if self.tests:
            return [self.column]
        return [c for part in self.parts for c in part.columns()]

    @model_validator(mode="after")
    def _one_kind(self) -> RowMatch:
        compound = [k for k in ("all_", "any_", "not_") if getattr(self, k) is not None]
        if len(compound) > 1:
            raise ValueError("give one of all, any or not per condition (nest them to combine)")
        if compound and (self.tests or self.column is not None):
            raise ValueError("a condition is either all/any/not of conditions or tests on one column")
        if not compound and not self.tests:
            raise ValueError("give a test: equals, in, matches, gt, ge, lt, le or blank (or all/any/not)")
        if (self.all_ is not None and not self.all_) or (self.any_ is not None and not self.any_):
            raise ValueError("all and any need at least one condition")
        return self


class RowRules(_Strict):
    """Rows that are not data rows, or are data of another kind.

    Every rule applies to every row, state-total rows included: ``stop_at`` ends the data,
    ``skip`` drops a row that matches any rule, ``keep`` (when given) drops a row that matches none,
    and ``state_total`` tags what is left as the state-level row.
    """

    skip_blank: bool = True
    skip: list[RowMatch] = Field(default_factory=list, description="Footnotes and notes to skip.")
    keep: list[RowMatch] = Field(default_factory=list, description="Only rows matching one of these load.")
    stop_at: list[RowMatch] = Field(default_factory=list, description="Rows that end the data.")
    state_total: RowMatch | None = Field(default=None, description="The row carrying state-level figures.")

    def rules(self) -> list[tuple[str, RowMatch]]:
        """(key, rule) for every rule, for checks that look at all of them."""
        named = [("stop_at", r) for r in self.stop_at] + [("skip", r) for r in self.skip]
        named += [("keep", r) for r in self.keep]
        return named + ([("state_total", self.state_total)] if self.state_total else [])


class DistrictRule(_Strict):
    """How the file names a district and how that maps to the canonical district."""

    scheme: Literal["state_code", "nces_lea_id", "st_leaid", "name"]
    column: str | list[str] = Field(description="Source column (or aliases across years).")
    width: int | None = Field(default=None, description="state_code: zero-pad to this many digits.")
    role: Literal["subject", "submitter", "resident"] = "subject"


class SchoolYearRule(_Strict):
    """Where the school year comes from and how it is written."""

    source: Literal["column", "filename", "header"] = "filename"
    column: str | list[str] | None = None
    year: int | None = Field(
        default=None,
        description="Set by the loader: the year of one load of a wide file (source header) or of a"
        " several-years file (source column).",
    )
    min_year: int = 2000
    max_year: int = 2035
    several: bool = Field(
        default=False,
        description="The file holds several school years: each year's rows land as a submission of their own.",
    )

    @model_validator(mode="after")
    def _column_given(self) -> SchoolYearRule:
        if self.source == "column" and not self.column:
            raise ValueError("school_year.column is required when source is column")
        if self.several and self.source != "column":
            raise ValueError("school_year.several needs source: column (each row's year)")
        if self.year is not None and self.source == "filename":
            raise ValueError("school_year.year is only for source: header or column")
        return self


class Suppression(_Strict):
    """Markers that stand for a suppressed or banded value."""

    markers: list[str] = Field(default_factory=lambda: list(DEFAULT_MARKERS))
    bands: bool = Field(default=True, description="Read '<10', 'n<16', '15 or less', 'GE50', '80-84'.")


class SourcePattern(_Strict):
    """A column name that varies by year: a regex (matched against the whole header cell,
    case-insensitive) whose group ``school_year`` (or first group) captures the year it names."""

    pattern: str

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        compiled = re.compile(_check_regex(value), re.IGNORECASE)
        if compiled.groups < 1:
            raise ValueError(f"{value!r} needs a group capturing the year, e.g. ALL_RATE_(\\d{{4}})")
        return value

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE)

    def year_text(self, header: str) -> str | None:
        """The year as the header writes it ('1314', '2024'), or None if the header does not match."""
        match = self.compiled().fullmatch(header.strip())
        if match is None:
            return None
        return match.group("school_year") if "school_year" in match.re.groupindex else match.group(1)


class FieldSpec(_Strict):
    """One canonical field and where it comes from."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    source: str | SourcePattern | list[str | SourcePattern] = Field(
        description="Source column name, its names across years, or {pattern: ...} with the year captured."
    )
    type: FieldType
    required: bool = True
    description: str | None = None
    min: float | None = None
    max: float | None = None
    format: Literal["auto", "percent", "fraction"] = Field(
        default="auto", description="rate: how the value is written; auto reads '85%', '85' and '0.85'."
    )
    allowed: list[str] | None = Field(default=None, description="category: the allowed values.")
    suppressible: bool = False
    date_format: str | None = None

    @property
    def sources(self) -> list[str]:
        """The literal column names (patterns are in ``source_patterns``)."""
        items = self.source if isinstance(self.source, list) else [self.source]
        return [s for s in items if isinstance(s, str)]

    @property
    def source_patterns(self) -> list[SourcePattern]:
        items = self.source if isinstance(self.source, list) else [self.source]
        return [s for s in items if isinstance(s, SourcePattern)]

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.name in RESERVED_COLUMNS:
            raise ValueError(f"field name {self.name!r} is reserved")
        if self.type == "category" and not self.allowed:
            raise ValueError("a category field needs allowed values")
        if self.suppressible and self.type not in NUMERIC_TYPES:
            raise ValueError("only numeric fields can be suppressible")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class DueDate(_Strict):
    """Submissions for school year Y-1..Y are due on month/day of calendar year Y (or Y+1)."""

    month: Annotated[int, Field(ge=1, le=12)]
    day: Annotated[int, Field(ge=1, le=31)]
    year_offset: Literal[0, 1] = 0

    def for_school_year(self, school_year: int) -> dt.date:
        return dt.date(school_year + self.year_offset, self.month, self.day)


class Contract(_Strict):
    """A submission contract for one source."""

    source: Annotated[str, Field(pattern=IDENTIFIER)]
    title: str
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    program: Annotated[str, Field(pattern=IDENTIFIER)]
    kind: Literal["program", "outcomes"] = "program"
    entity: str = Field(description="What one row is, in plain words.")
    submitter: Literal["district", "provider", "state"]
    description: str = ""
    owner: str = "state-data-team"
    schedule: str | None = "@daily"
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    due: DueDate
    file: FileLayout
    rows: RowRules = Field(default_factory=RowRules)
    district: DistrictRule
    school_year: SchoolYearRule = Field(default_factory=SchoolYearRule)
    suppression: Suppression = Field(default_factory=Suppression)
    fields: list[FieldSpec]
    natural_key: list[str] = Field(description="Fields that identify a row within one submission.")
    min_rows: Annotated[int, Field(ge=0)] = 1
    # From the raw table to the marts (transform_spec.py): how rows become measures, and what the
    # program and any new measures mean.
    program_details: ProgramDetails | None = None
    transform: Transform | None = None
    measure_definitions: list[MeasureDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_are_fields(self) -> Contract:
        names = [f.name for f in self.fields]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"field names repeated: {sorted(dupes)}")
        known = {*names, "district_id"}
        missing = [k for k in self.natural_key if k not in known]
        if missing:
            raise ValueError(f"natural_key names unknown fields: {missing}")
        if (
            "submitter" not in re.compile(self.file.pattern).groupindex
            and self.submitter != "state"
            and (self.district.role != "submitter")
        ):
            raise ValueError("file.pattern needs a (?P<submitter>...) group, or district.role: submitter")
        wide = self.school_year.source == "header" and self.school_year.year is None
        if wide and not any(f.source_patterns for f in self.fields):
            raise ValueError("school_year.source header needs fields whose source is a {pattern: ...}")
        if (
            self.school_year.source == "filename"
            and "school_year" not in re.compile(self.file.pattern).groupindex
        ):
            raise ValueError(
                "school_year.source is filename but file.pattern has no (?P<school_year>...) group"
            )
        problems = check_rules(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def raw_table(self) -> str:
        return self.source

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def matches_file(self, file_name: str) -> re.Match[str] | None:
        return re.match(self.file.pattern, file_name, flags=re.IGNORECASE)


def _describe(error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


# libyaml's parser where PyYAML has it (its wheels do): 8x the pure-Python one, and every task and
# every DAG parse loads all the contracts. Same documents, same YAMLError with line and column.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_contract(path: Path) -> Contract:
    """Read and validate one contract; raise ContractError naming the file and the key."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{path.name}: a contract must be a mapping of keys")
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{path.name}: invalid contract\n{_describe(exc)}") from exc
    if contract.source != path.stem:
        raise ContractError(f"{path.name}: source {contract.source!r} must match the file name {path.stem!r}")
    return contract


def programs_dir() -> Path:
    from innovation_pipeline.warehouse import project_root

    return project_root() / "programs"


def contract_paths(folder: Path | None = None) -> list[Path]:
    folder = folder or programs_dir()
    return sorted(p for p in folder.glob("*.yml") if not p.name.startswith("_"))


def load_contracts(folder: Path | None = None) -> dict[str, Contract]:
    """All contracts in ``programs/``, keyed by source."""
    return {c.source: c for c in (load_contract(p) for p in contract_paths(folder))}


def find_contract(file_name: str, contracts: Iterable[Contract]) -> Contract | None:
    """The contract whose file pattern matches a file name."""
    for contract in contracts:
        if contract.matches_file(file_name):
            return contract
    return None
