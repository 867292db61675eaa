"""What a source contributes to the marts: the contract's ``transform`` and ``program_details`` keys.

A contract's ``fields`` say how a file's columns land in ``raw.<source>``; its ``transform`` says
how those rows become cells of the conformed grain (program or outcome feed, district, school
year, measure): which rows count, which measure each field feeds, and how sub-rows (schools,
grades, pathways, waivers, students) aggregate to a district. The dbt models for the source are
generated from it (:mod:`innovation_pipeline.dbt_codegen`); nobody writes SQL to onboard a source.

Measures are a shared vocabulary so programs compare across states: ``programs/_measures.yml``
holds the conformed ones, and a contract may declare new ones (``measure_definitions``) with their
definition, unit, direction and numerator/denominator, so ``dim_measure`` and the docs come from
the contracts too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from innovation_pipeline.contracts import Contract

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
#: The file beside the contracts that holds the conformed measures every program may report.
MEASURE_CATALOG = "_measures.yml"

Aggregate = Literal["sum", "max", "min", "count", "count_distinct", "weighted_mean", "ratio"]
#: Aggregates whose result is a count of something, whatever the field's type.
_COUNTING = {"count", "count_distinct"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """A row condition on one landed field: the rows a measure counts (e.g. one grain of several)."""

    field: str
    equals: str | float | bool | None = None
    in_: list[str | float] | None = Field(default=None, alias="in")
    not_in: list[str | float] | None = None
    is_null: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        given = [k for k in ("equals", "in_", "not_in", "is_null") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, in, not_in or is_null")
        return self


class MeasureRule(_Strict):
    """One measure a source reports: which field feeds it and how rows aggregate to a district.

    ``per`` aggregates in two steps: first within each group of the named fields (``aggregate``),
    then the groups are summed to the district; e.g. Kentucky's participants are the most-defended
    competency at each transition grade (``max`` per grade), summed over the grades.
    """

    measure: Annotated[str, Field(pattern=IDENTIFIER)]
    aggregate: Aggregate = "sum"
    field: str | None = Field(default=None, description="The landed field aggregated (not for count).")
    weight: str | None = Field(default=None, description="weighted_mean: the count that weights the field.")
    numerator: str | None = Field(default=None, description="ratio: sum(numerator) / sum(denominator).")
    denominator: str | None = None
    per: list[str] = Field(default_factory=list, description="Fields to aggregate within first, then sum.")
    where: list[Condition] = Field(default_factory=list, description="Only rows meeting every condition.")

    @model_validator(mode="after")
    def _inputs(self) -> MeasureRule:
        if self.aggregate == "ratio":
            if not (self.numerator and self.denominator) or self.field:
                raise ValueError("a ratio takes numerator and denominator (and no field)")
        elif self.aggregate == "count":
            if self.field or self.weight:
                raise ValueError("count counts rows: give no field")
        elif not self.field:
            raise ValueError(f"aggregate {self.aggregate} needs a field")
        if (self.aggregate == "weighted_mean") != bool(self.weight):
            raise ValueError("weight goes with weighted_mean, and weighted_mean needs a weight")
        return self

    @property
    def inputs(self) -> list[str]:
        """The landed fields this rule reads."""
        names = [self.field, self.weight, self.numerator, self.denominator, *self.per]
        names += [c.field for c in self.where]
        return [n for n in names if n]


class Transform(_Strict):
    """How a source's landed rows become cells of the marts."""

    entity: Annotated[str, Field(pattern=IDENTIFIER)] = Field(
        default="rows", description="Names the staging model: stg_<source>__<entity>."
    )
    rows: Literal["district", "all"] | None = Field(
        default=None,
        description="Row kinds that feed measures: district rows only (programs' default) or every row, "
        "State Total rows included (outcome feeds' default: the state figure is kept as reported).",
    )
    outcome_priority: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Outcome feeds: where two report the same cell, the lower number wins."
    )
    model: Annotated[str, Field(pattern=IDENTIFIER)] | None = Field(
        default=None,
        description="A hand-written district-measures model to use instead of the generated one, for "
        "an aggregation the declarations cannot express (models/intermediate/custom/<model>.sql).",
    )
    measures: list[MeasureRule] = Field(default_factory=list)


class ProgramDetails(_Strict):
    """The program as dim_program describes it (once per program, in one of its contracts)."""

    name: str
    agency: str
    participant_definition: str
    description: str


class MeasureDefinition(_Strict):
    """A measure of the conformed vocabulary: what it means, its unit, direction and suppression."""

    id: Annotated[str, Field(pattern=IDENTIFIER)]
    name: str
    group: Literal["participation", "funding", "credits", "proficiency", "program_specific", "outcome"]
    value_type: Literal["count", "amount", "rate", "ratio"]
    unit: str
    higher_is_better: bool | None = None
    suppression_rule: Literal["count", "rate", "per_person", "none"]
    numerator: str | None = None
    denominator: str | None = None
    definition: str

    @model_validator(mode="after")
    def _rule_fits(self) -> MeasureDefinition:
        if self.value_type == "rate" and self.suppression_rule not in {"rate", "none"}:
            raise ValueError("a rate is suppressed by the rate rule (or none)")
        if self.suppression_rule == "count" and self.value_type != "count":
            raise ValueError("the count rule is for counts of people")
        return self


class MeasureCatalogError(ValueError):
    """The measure catalog or a contract's measures cannot be used; the message says where."""


def load_catalog(folder: Path) -> list[MeasureDefinition]:
    """The conformed measures in ``<folder>/_measures.yml`` (in their file order)."""
    path = folder / MEASURE_CATALOG
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return [MeasureDefinition.model_validate(m) for m in data.get("measures") or []]
    except (yaml.YAMLError, ValidationError) as exc:
        raise MeasureCatalogError(f"{path.name}: {exc}") from exc


def check_rules(contract: Contract) -> list[str]:
    """Problems with a contract's transform against its own fields (empty when it is sound)."""
    problems: list[str] = []
    fields = {f.name: f for f in contract.fields}
    transform = contract.transform
    if transform is None:
        return problems
    seen: set[str] = set()
    for rule in transform.measures:
        where = f"transform.measures.{rule.measure}"
        if rule.measure in seen:
            problems.append(f"{where}: measure given twice")
        seen.add(rule.measure)
        for input_name in rule.inputs:
            if input_name not in fields:
                problems.append(f"{where}: {input_name!r} is not a field of this contract")
        for name in (rule.field, rule.weight, rule.numerator, rule.denominator):
            spec = fields.get(name or "")
            if spec is None or rule.aggregate in _COUNTING:
                continue
            if spec.type not in {"integer", "number", "rate", "money"}:
                problems.append(f"{where}: {rule.aggregate} needs a numeric field, {name!r} is {spec.type}")
    if contract.kind == "outcomes" and transform.model is None and not transform.measures:
        problems.append("transform.measures: an outcome feed must report at least one measure")
    if transform.outcome_priority is not None and contract.kind != "outcomes":
        problems.append("transform.outcome_priority: only outcome feeds have a priority")
    return problems


def measure_catalog(folder: Path, contracts: dict[str, Contract]) -> list[MeasureDefinition]:
    """Every measure: the shared catalog, then each contract's new ones; raises on conflicts.

    Every measure a contract's transform reports must be defined, and a measure is defined once.
    """
    catalog = load_catalog(folder)
    by_id = {m.id: m for m in catalog}
    if len(by_id) != len(catalog):
        raise MeasureCatalogError(f"{MEASURE_CATALOG}: a measure id appears twice")
    for contract in contracts.values():
        for definition in contract.measure_definitions:
            if definition.id in by_id:
                raise MeasureCatalogError(
                    f"{contract.source}.yml: measure {definition.id!r} is already defined "
                    f"({MEASURE_CATALOG} or another contract); report it instead of defining it again"
                )
            by_id[definition.id] = definition
            catalog.append(definition)
    for contract in contracts.values():
        for rule in contract.transform.measures if contract.transform else []:
            if rule.measure not in by_id:
                raise MeasureCatalogError(
                    f"{contract.source}.yml: transform.measures.{rule.measure}: unknown measure; define it "
                    f"under measure_definitions (or use one of {MEASURE_CATALOG})"
                )
    for m in catalog:
        for ref in (m.numerator, m.denominator):
            if ref and ref not in by_id:
                raise MeasureCatalogError(f"measure {m.id!r}: numerator/denominator {ref!r} is not a measure")
    return catalog


def program_details(contracts: dict[str, Contract]) -> dict[str, tuple[str, ProgramDetails]]:
    """Program id -> (state, details), from the contracts; each program described exactly once."""
    found: dict[str, tuple[str, ProgramDetails]] = {}
    for contract in contracts.values():
        if contract.program_details is None:
            continue
        if contract.program in found:
            raise MeasureCatalogError(
                f"{contract.source}.yml: program {contract.program!r} is described in another contract too"
            )
        found[contract.program] = (contract.state, contract.program_details)
    missing = sorted({c.program for c in contracts.values()} - set(found))
    if missing:
        raise MeasureCatalogError(
            f"program_details missing for {missing}: one contract of each program describes it"
        )
    return found
