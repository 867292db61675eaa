"""The dbt layer of every source, written from its contract: one YAML carries a source to the marts.

For each contract in ``programs/`` this writes, into the dbt project:

- ``models/staging/generated/stg_<source>__<entity>.sql`` and ``.yml``: the staging view of
  ``raw.<source>`` (current submissions only, typed columns, the marker columns of suppressible
  fields, column docs and tests from the contract's fields);
- ``models/intermediate/generated/int_<source>__district_measures.sql`` and ``.yml``: the source's
  cells on the conformed grain (district or State Total, school year, measure), from
  ``transform.measures``, unless the contract names a hand-written model;
- ``models/staging/generated/_raw__sources.yml``: the raw tables as dbt sources;
- ``macros/generated/contract_registry.sql``: the sources, their kind and models, which the union
  models and ``dim_district`` loop over;
- ``macros/generated/dq_tables.sql``: the ``dq`` tables created on dbt's on-run-start, from
  ``sql/dq_schema.sql`` (the one copy of that DDL);
- ``seeds/programs.csv``, ``seeds/program_sources.csv`` and ``seeds/measures.csv``: dim_program and
  dim_measure's content, from ``program_details``, ``transform`` and the measure catalog.

Why generated files, checked in, rather than macros reading a manifest at run time: dbt needs one
model file per node (Cosmos shows one task per model, analysts read the compiled SQL), SQL that is
in the repository is reviewed in the same pull request as the contract change that alters it, and
a read-only deployment needs nothing written at run time. Nobody edits them: every path into dbt
(``ensure_manifest`` for the DAGs and ``make demo``, ``innovation-pipeline dbt``, the tests) syncs
them first, and a test fails when the committed files differ from what the contracts give.

Kept as one module though it is long: ``contracts sync`` and ``contracts check`` write and compare
the whole generated layer at once, and the staging, intermediate and registry files share the
naming helpers that make their names agree. Its sections follow the dbt layers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from innovation_pipeline.contracts import Contract, FieldSpec, load_contracts
from innovation_pipeline.transform_spec import (
    MeasureDefinition,
    MeasureRule,
    measure_catalog,
    program_details,
)

GENERATED = "generated"
_STAGING = Path("models/staging") / GENERATED
_INTERMEDIATE = Path("models/intermediate") / GENERATED
_MACROS = Path("macros") / GENERATED
_DOCS = Path("models/docs") / GENERATED
_SEEDS = Path("seeds")
#: Seeds this module owns; any other seed (suppression thresholds, reason codes) is written by hand.
GENERATED_SEEDS = ("programs.csv", "program_sources.csv", "measures.csv")
_NUMERIC = {"integer", "number", "rate", "money"}
#: Field type -> the type contract_staging casts it to (a student id stays its pseudonym).
_SQL_TYPES = {
    "text": "text",
    "category": "text",
    "date": "date",
    "boolean": "boolean",
    "student_id": "student_id",
    **{t: "numeric" for t in _NUMERIC},
}


def _banner(contract_file: str) -> str:
    return f"-- Generated from {contract_file} by `innovation-pipeline contracts sync`:\n-- edit the contract, not this file.\n"


def _comment(text: str) -> str:
    """SQL comment lines wrapped within the linter's line length."""
    import textwrap

    return "".join(f"-- {line}\n" for line in textwrap.wrap(" ".join(text.split()), 96))


def staging_model(contract: Contract) -> str:
    entity = contract.transform.entity if contract.transform else "rows"
    return f"stg_{contract.source}__{entity}"


def measures_model(contract: Contract) -> str | None:
    """The source's district-measures model: the contract's hand-written one, else the generated one."""
    if contract.transform is None or (not contract.transform.measures and contract.transform.model is None):
        return None
    return contract.transform.model or f"int_{contract.source}__district_measures"


def _column(field: FieldSpec) -> str:
    """The landed column of a field as staging exposes it (a student id only as its pseudonym)."""
    return f"{field.name}_key" if field.type == "student_id" else field.name


# --- staging -----------------------------------------------------------------------------------


def _jinja(value: object) -> str:
    """A Jinja literal: the registry is plain Jinja data (sqlfluff's templater has no fromjson)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_jinja(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_jinja(k)}: {_jinja(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Jinja literal for {value!r}")


def _staging_fields(contract: Contract) -> list[dict[str, object]]:
    """The contract's fields as contract_staging reads them: name, SQL type, suppressible."""
    return [
        {"name": f.name, "type": _SQL_TYPES[f.type], "suppressible": f.suppressible} for f in contract.fields
    ]


def _macro_model(contract: Contract, contract_file: str, about: str, macro: str) -> str:
    """A generated model file: the banner, what it is, and one call of its macro in contract_models.sql."""
    return f"{_banner(contract_file)}{_comment(about)}{{{{ {macro}('{contract.source}') }}}}\n"


def staging_sql(contract: Contract, contract_file: str) -> str:
    about = (
        f"{contract.title}: {contract.entity}; current submissions only. The SQL is "
        "macros/contract_models.sql (contract_staging), fed by the contract's fields in "
        "macros/generated/contract_registry.sql."
    )
    return _macro_model(contract, contract_file, about, "contract_staging")


def _range_test(low: float | None, high: float | None) -> list[dict[str, object]]:
    arguments: dict[str, object] = {}
    if low is not None:
        arguments["min_value"] = low
    if high is not None:
        arguments["max_value"] = high
    return [{"accepted_range": {"arguments": arguments}}] if arguments else []


def staging_yaml(contract: Contract) -> dict[str, object]:
    columns: list[dict[str, object]] = [
        {
            "name": "submission_id",
            "description": "The submission (audit.submissions) the row came in; only submissions with status loaded appear.",
            "data_tests": [
                "not_null",
                {
                    "relationships": {
                        "arguments": {"to": "ref('stg_audit__submissions')", "field": "submission_id"}
                    }
                },
            ],
        },
        {
            "name": "district_id",
            "description": "Canonical district (ref.districts); null on a State Total row.",
            "data_tests": [
                {"relationships": {"arguments": {"to": "ref('stg_ref__districts')", "field": "district_id"}}}
            ],
        },
        {"name": "state", "description": "Two-letter state.", "data_tests": ["not_null"]},
        {
            "name": "school_year",
            "description": "Ending year of the school year (2023-24 is 2024).",
            "data_tests": ["not_null", *_range_test(1990, 2100)],
        },
        {
            "name": "row_kind",
            "description": "district, or state_total for the row carrying state-level figures.",
            "data_tests": [{"accepted_values": {"arguments": {"values": ["district", "state_total"]}}}],
        },
        {"name": "district_source_value", "description": "The district code or name as the file wrote it."},
    ]
    for field in contract.fields:
        column: dict[str, object] = {"name": _column(field)}
        description = field.description or f"{field.name.replace('_', ' ')} ({field.type})"
        if field.type == "student_id":
            description = (
                f"HMAC pseudonym of {field.description or 'the student identifier'}; engineers only."
            )
        elif field.suppressible:
            description += "; null when suppressed at source (see the __suppressed, __marker, __lower and __upper columns)"
        column["description"] = description
        tests: list[dict[str, object]] = []
        if field.type == "rate":
            tests = _range_test(0, 1)
        elif field.type in _NUMERIC:
            tests = _range_test(field.min, field.max)
        if field.type == "category" and field.allowed:
            tests.append(
                {"accepted_values": {"arguments": {"values": sorted({_slug(a) for a in field.allowed})}}}
            )
        if tests:
            column["data_tests"] = tests
        columns.append(column)
    return {
        "name": staging_model(contract),
        "description": f"{contract.title}: {contract.entity}. Current submissions only; generated from "
        f"programs/{contract.source}.yml.",
        "data_tests": [
            {
                "unique_combination": {
                    "arguments": {"combination": ["submission_id", "sheet_name", "source_row"]}
                }
            }
        ],
        "columns": columns,
    }


def _slug(value: str) -> str:
    # The loader lands categories normalized (parsing.normalize_category_value); tests and filters
    # compare with the landed form.
    from innovation_pipeline.parsing import normalize_category_value

    return normalize_category_value(value)


# --- intermediate ------------------------------------------------------------------------------


def _condition_sql(field: FieldSpec, condition: object) -> str:
    from innovation_pipeline.transform_spec import Condition

    assert isinstance(condition, Condition)
    column = _column(field)

    def literal(value: object) -> str:
        if field.type == "category" and isinstance(value, str):
            value = _slug(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    if condition.is_null is not None:
        return f"{column} is {'' if condition.is_null else 'not '}null"
    if condition.equals is not None:
        return f"{column} = {literal(condition.equals)}"
    values = condition.in_ if condition.in_ is not None else condition.not_in
    assert values is not None
    operator = "in" if condition.in_ is not None else "not in"
    return f"{column} {operator} ({', '.join(literal(v) for v in values)})"


def _rule_arg(rule: MeasureRule, fields: dict[str, FieldSpec]) -> dict[str, object]:
    """A measure rule as contract_district_measures reads it: names resolved to landed columns."""

    def suppressible(name: str | None) -> bool:
        return bool(name and fields[name].suppressible)

    arg: dict[str, object] = {"measure": rule.measure, "aggregate": rule.aggregate}
    if rule.field:
        arg.update(
            field=rule.field, column=_column(fields[rule.field]), suppressible=suppressible(rule.field)
        )
    if rule.weight:
        arg.update(weight=rule.weight, weight_suppressible=suppressible(rule.weight))
    if rule.numerator and rule.denominator:
        arg.update(
            numerator=rule.numerator,
            numerator_suppressible=suppressible(rule.numerator),
            denominator=rule.denominator,
            denominator_suppressible=suppressible(rule.denominator),
        )
    return arg


def _groups(contract: Contract) -> list[dict[str, object]]:
    """The measure rules grouped by their first step (per) and row filter (where), in file order."""
    fields = {f.name: f for f in contract.fields}
    assert contract.transform is not None
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, object]]] = {}
    for rule in contract.transform.measures:
        key = (
            tuple(_column(fields[p]) for p in rule.per),
            tuple(_condition_sql(fields[c.field], c) for c in rule.where),
        )
        groups.setdefault(key, []).append(_rule_arg(rule, fields))
    return [
        {"per": list(per), "where": list(where), "rules": rules} for (per, where), rules in groups.items()
    ]


def measures_sql(contract: Contract, contract_file: str) -> str:
    about = (
        f"{contract.title}: the source's cells on the conformed grain (district or State Total, school "
        "year, measure), one row per measure. The SQL is macros/contract_models.sql "
        "(contract_district_measures), fed by transform.measures in macros/generated/contract_registry.sql."
    )
    return _macro_model(contract, contract_file, about, "contract_district_measures")


def measures_yaml(contract: Contract) -> dict[str, object]:
    return {
        "name": measures_model(contract),
        "description": f"{contract.title}, aggregated to district (or State Total) and school year, one row "
        f"per measure (long). True values: engineers only. Generated from programs/{contract.source}.yml "
        "(transform.measures).",
        "data_tests": [
            {
                "unique_combination": {
                    "arguments": {
                        "combination": ["state", "district_id", "row_kind", "school_year", "measure_id"]
                    }
                }
            }
        ],
        "columns": [
            {
                "name": "measure_id",
                "data_tests": [
                    "not_null",
                    {"relationships": {"arguments": {"to": "ref('measures')", "field": "measure_id"}}},
                ],
            }
        ],
    }


# --- sources, registry, seeds -----------------------------------------------------------------


def sources_yaml(contracts: dict[str, Contract]) -> dict[str, object]:
    return {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "description": "Landed submissions, one table per source contract (programs/<source>.yml), one "
                "row per loaded data row. Written only by innovation_pipeline.landing; every row carries its "
                "submission id and source row. Rows of superseded submissions stay here; staging filters them.",
                "schema": "raw",
                "config": {
                    "loaded_at_field": "_loaded_at",
                    # A source with no load for 13 months has missed a due date: warn, never stop the
                    # other programs' marts (the ingest DAGs' due-date checks name the overdue).
                    "freshness": {"warn_after": {"count": 400, "period": "day"}},
                },
                "tables": [
                    {"name": c.source, "description": f"{c.title}; one row per {c.entity}."}
                    for c in contracts.values()
                ],
            }
        ],
    }


def _registry_entry(contract: Contract) -> dict[str, object]:
    entry: dict[str, object] = {
        "source": contract.source,
        "program_id": contract.program,
        "kind": contract.kind,
        "staging_model": staging_model(contract),
        "measures_model": measures_model(contract),
        "fields": _staging_fields(contract),
    }
    if contract.transform is not None and contract.transform.measures:
        entry["rows"] = contract.transform.rows or ("all" if contract.kind == "outcomes" else "district")
        entry["groups"] = _groups(contract)
    return entry


def registry_macro(contracts: dict[str, Contract]) -> str:
    # One line per source: what each generated model passes to macros/contract_models.sql.
    lines = ",\n".join("        " + _jinja(_registry_entry(c)) for c in contracts.values())
    return f"""{{#- Generated from programs/*.yml by `innovation-pipeline contracts sync`: edit the contracts,
    not this file. Every source with its program, kind, models, fields and measure rules: the
    generated models (macros/contract_models.sql), the union models and dim_district read it
    instead of a hand-kept list. -#}}

{{% macro contract_registry() -%}}
    {{{{ return([
{lines}
    ]) }}}}
{{%- endmacro %}}
"""


def dq_tables_macro() -> str:
    """The on-run-start macro that creates the ``dq`` tables, from the pipeline's own DDL."""
    from innovation_pipeline.dq.schema import ddl

    lines = ddl().splitlines()
    while lines and (not lines[0].strip() or lines[0].startswith("--")):
        lines.pop(0)  # the file's header says where it is used; the macro says where it comes from
    statements = "\n".join("    " + line if line else "" for line in lines)
    return f"""{{#- Generated from plugins/innovation_pipeline/sql/dq_schema.sql by `innovation-pipeline contracts
    sync`: edit that file, not this one. submission_quality reads the dq tables, so on a fresh
    warehouse where no validation has run yet, on-run-start creates them empty; IF NOT EXISTS leaves
    tables the data-quality suite made untouched. -#}}
{{% macro create_dq_tables_if_missing() %}}
{statements}
{{% endmacro %}}
"""


def _csv(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else ("true" if v is True else "false" if v is False else v) for v in row]
        )
    return out.getvalue()


def seed_files(contracts: dict[str, Contract], catalog: list[MeasureDefinition]) -> dict[str, str]:
    programs = program_details(contracts)
    submitter_kinds: dict[str, str] = {}
    for c in contracts.values():
        submitter_kinds.setdefault(c.program, c.submitter)
    return {
        "programs.csv": _csv(
            [
                "program_id",
                "state",
                "program_name",
                "state_agency",
                "submitter_kind",
                "participant_definition",
                "description",
            ],
            (
                [
                    pid,
                    state,
                    d.name,
                    d.agency,
                    submitter_kinds[pid],
                    d.participant_definition,
                    d.description.strip(),
                ]
                for pid, (state, d) in programs.items()
            ),
        ),
        "program_sources.csv": _csv(
            ["source", "program_id", "state", "kind", "outcome_priority"],
            (
                [c.source, c.program, c.state, c.kind, c.transform.outcome_priority if c.transform else None]
                for c in contracts.values()
            ),
        ),
        "measures.csv": _csv(
            [
                "measure_id",
                "measure_name",
                "measure_group",
                "value_type",
                "unit",
                "higher_is_better",
                "suppression_rule",
                "numerator_measure_id",
                "denominator_measure_id",
                "definition",
            ],
            (
                [
                    m.id,
                    m.name,
                    m.group,
                    m.value_type,
                    m.unit,
                    m.higher_is_better,
                    m.suppression_rule,
                    m.numerator,
                    m.denominator,
                    m.definition.strip(),
                ]
                for m in catalog
            ),
        ),
    }


def measure_docs(contracts: dict[str, Contract], catalog: list[MeasureDefinition]) -> str:
    """The ``measure_catalog`` docs block: every measure, what it means and which sources report it."""
    reported: dict[str, list[str]] = {}
    for c in contracts.values():
        for rule in c.transform.measures if c.transform else []:
            reported.setdefault(rule.measure, []).append(c.source)

    def cell(text: object) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = [
        "{% docs measure_catalog %}",
        "Measures (generated from programs/_measures.yml and the contracts' measure_definitions):",
        "",
        "| measure | unit | higher is better | suppression | reported by | definition |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in catalog:
        better = {True: "yes", False: "no", None: ""}[m.higher_is_better]
        sources = ", ".join(reported.get(m.id, [])) or "derived in the marts"
        lines.append(
            f"| `{m.id}` | {cell(m.unit)} | {better} | {m.suppression_rule} | {sources} | {cell(m.definition)} |"
        )
    lines.append("{% enddocs %}")
    return "\n".join(lines) + "\n"


def _yaml(data: dict[str, object], banner: str) -> str:
    return banner + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)


def generated_files(programs: Path) -> dict[Path, str]:
    """Every generated file (relative to the dbt project) and its content, from the contracts."""
    contracts = load_contracts(programs)
    catalog = measure_catalog(programs, contracts)
    files: dict[Path, str] = {}
    yaml_banner = (
        "# Generated from programs/*.yml by `innovation-pipeline contracts sync`: edit the contracts.\n"
    )
    files[_STAGING / "_raw__sources.yml"] = _yaml(sources_yaml(contracts), yaml_banner)
    for contract in contracts.values():
        contract_file = f"programs/{contract.source}.yml"
        banner = (
            f"# Generated from {contract_file} by `innovation-pipeline contracts sync`: edit the contract.\n"
        )
        stg = staging_model(contract)
        files[_STAGING / f"{stg}.sql"] = staging_sql(contract, contract_file)
        files[_STAGING / f"{stg}.yml"] = _yaml({"version": 2, "models": [staging_yaml(contract)]}, banner)
        model = measures_model(contract)
        if model and contract.transform and contract.transform.model is None:
            files[_INTERMEDIATE / f"{model}.sql"] = measures_sql(contract, contract_file)
            files[_INTERMEDIATE / f"{model}.yml"] = _yaml(
                {"version": 2, "models": [measures_yaml(contract)]}, banner
            )
    files[_MACROS / "contract_registry.sql"] = registry_macro(contracts)
    files[_MACROS / "dq_tables.sql"] = dq_tables_macro()
    files[_DOCS / "measure_catalog.md"] = measure_docs(contracts, catalog)
    for name, content in seed_files(contracts, catalog).items():
        files[_SEEDS / name] = content
    return files


@dataclass
class SyncResult:
    written: list[Path]
    removed: list[Path]

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def _owned(project: Path) -> list[Path]:
    """Files now in the generated folders and seeds, which a sync may rewrite or remove."""
    found = [
        p
        for folder in (_STAGING, _INTERMEDIATE, _MACROS, _DOCS)
        for p in (project / folder).glob("*")
        if p.is_file()
    ]
    found += [project / _SEEDS / name for name in GENERATED_SEEDS if (project / _SEEDS / name).exists()]
    return found


def sync(project: Path, programs: Path, check_only: bool = False) -> SyncResult:
    """Write the generated dbt files for the contracts in ``programs`` into the dbt ``project``.

    Files already up to date are not touched (a read-only deployment syncs to a no-op); files of a
    contract that was removed are deleted. ``check_only`` reports what would change, writing nothing.
    """
    wanted = {project / rel: content for rel, content in generated_files(programs).items()}
    written = [
        path
        for path, content in wanted.items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]
    removed = [path for path in _owned(project) if path not in wanted]
    if not check_only:
        for path in written:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[path], encoding="utf-8")
        for path in removed:
            path.unlink()
    return SyncResult(written, removed)


def sync_project(check_only: bool = False) -> SyncResult:
    """:func:`sync` for this checkout's dbt project and ``programs/`` (every path into dbt calls it).

    A deployment whose dbt project cannot be written still runs when its generated files are current;
    when they are stale it fails with what to do instead of building marts that miss a source.
    """
    from innovation_pipeline import settings
    from innovation_pipeline.contracts import programs_dir

    project = settings.dbt_project_dir()
    try:
        return sync(project, programs_dir(), check_only=check_only)
    except PermissionError as exc:
        raise RuntimeError(
            f"the dbt files generated from the contracts are out of date and {project} is read-only: "
            "run `innovation-pipeline contracts sync` where the project is writable and deploy the result"
        ) from exc
