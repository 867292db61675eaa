"""The contracts' transform layer: declarations validated, the dbt files generated from them current.

Pure logic (no database): the end-to-end proof that a contract alone reaches the marts is
tests/test_onboarding_e2e.py, and the differential test against the hand-written models is in
tests/test_dbt_project.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from innovation_pipeline.contracts import ContractError, load_contract, load_contracts
from innovation_pipeline.dbt_codegen import (
    _groups,
    _registry_entry,
    generated_files,
    measures_model,
    staging_model,
    sync,
)
from innovation_pipeline.dq.validate import coverage_of
from innovation_pipeline.transform_spec import MeasureCatalogError, measure_catalog, program_details

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "programs"
DBT_PROJECT = ROOT / "dbt_project"
CONTRACTS = load_contracts(PROGRAMS)


def _variant(tmp_path: Path, source: str, change: Any) -> Path:
    """A copy of programs/ with one contract's YAML changed by ``change(data)``."""
    folder = tmp_path / "programs"
    shutil.copytree(PROGRAMS, folder)
    path = folder / f"{source}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def test_the_committed_dbt_files_are_what_the_contracts_generate() -> None:
    result = sync(DBT_PROJECT, PROGRAMS, check_only=True)
    stale = [p.relative_to(DBT_PROJECT).as_posix() for p in [*result.written, *result.removed]]
    assert stale == [], "run `innovation-pipeline contracts sync` and commit the result"


def test_a_hand_edit_of_a_generated_file_is_caught(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "generated" / "int_ky_local_labs__district_measures.sql"
    model.write_text(
        model.read_text(encoding="utf-8").replace("ky_local_labs')", "ut_pcbl_grants')"), encoding="utf-8"
    )
    (project / "models" / "staging" / "generated" / "stg_gone__rows.sql").write_text(
        "select 1\n", encoding="utf-8"
    )
    result = sync(project, PROGRAMS, check_only=True)
    assert result.written == [model]
    assert [p.name for p in result.removed] == ["stg_gone__rows.sql"]
    (project / "models" / "docs" / "generated" / "gone.md").write_text(
        "{% docs gone %}{% enddocs %}\n", encoding="utf-8"
    )
    assert [p.name for p in sync(project, PROGRAMS, check_only=True).removed] == [
        "stg_gone__rows.sql",
        "gone.md",
    ]
    sync(project, PROGRAMS)
    assert not sync(project, PROGRAMS, check_only=True).changed


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_every_contract_reaches_a_measures_model(source: str) -> None:
    contract = CONTRACTS[source]
    assert contract.transform is not None and contract.transform.measures, source
    files = {p.as_posix() for p in generated_files(PROGRAMS)}
    assert f"models/staging/generated/{staging_model(contract)}.sql" in files
    assert f"models/intermediate/generated/{measures_model(contract)}.sql" in files


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_staging_reads_every_field_and_student_ids_only_as_pseudonyms(source: str) -> None:
    contract = CONTRACTS[source]
    sql = generated_files(PROGRAMS)[Path("models/staging/generated") / f"{staging_model(contract)}.sql"]
    assert f"{{{{ contract_staging('{source}') }}}}" in sql
    fields = {f["name"]: f for f in _registry_entry(contract)["fields"]}  # type: ignore[attr-defined]
    assert list(fields) == [f.name for f in contract.fields]
    for field in contract.fields:
        # contract_staging exposes a student_id field only as its pseudonym column <name>_key.
        assert (fields[field.name]["type"] == "student_id") == (field.type == "student_id")
        assert fields[field.name]["suppressible"] == field.suppressible


def test_seeds_list_every_program_source_and_measure() -> None:
    files = generated_files(PROGRAMS)
    sources = files[Path("seeds/program_sources.csv")].splitlines()[1:]
    assert sorted(line.split(",")[0] for line in sources) == sorted(CONTRACTS)
    measures = {line.split(",")[0] for line in files[Path("seeds/measures.csv")].splitlines()[1:]}
    reported = {r.measure for c in CONTRACTS.values() for r in (c.transform.measures if c.transform else [])}
    assert reported <= measures
    programs = {line.split(",")[0] for line in files[Path("seeds/programs.csv")].splitlines()[1:]}
    assert programs == {c.program for c in CONTRACTS.values()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["transform"]["measures"].append({"measure": "students_enrolled", "field": "nope"}),
            "not a field",
        ),
        (
            lambda d: d["transform"]["measures"].append({"measure": "funding_amount", "field": "competency"}),
            "needs a numeric field",
        ),
        (
            lambda d: d["transform"]["measures"].append(
                {"measure": "x_rate", "aggregate": "ratio", "numerator": "grade"}
            ),
            "numerator and denominator",
        ),
        (lambda d: d["transform"].update(outcome_priority=1), "only outcome feeds"),
        (lambda d: d["transform"]["measures"].append(d["transform"]["measures"][0]), "measure given twice"),
        (
            lambda d: d["transform"].update(
                measures=[{"measure": "students_proficient", "aggregate": "avg"}]
            ),
            "aggregate",
        ),
        (
            lambda d: d["transform"]["measures"].append(
                {
                    "measure": "students_proficient",
                    "field": "students_proficient",
                    "where": [{"field": "grade"}],
                }
            ),
            "exactly one of",
        ),
    ],
)
def test_a_bad_transform_is_refused_with_its_key(tmp_path: Path, change: Any, message: str) -> None:
    folder = _variant(tmp_path, "ky_local_labs", change)
    with pytest.raises(ContractError, match=message):
        load_contract(folder / "ky_local_labs.yml")


def test_an_unknown_measure_must_be_defined(tmp_path: Path) -> None:
    folder = _variant(
        tmp_path,
        "ky_local_labs",
        lambda d: d["transform"]["measures"].append(
            {"measure": "portfolio_defenses", "field": "students_defended"}
        ),
    )
    with pytest.raises(MeasureCatalogError, match="portfolio_defenses: unknown measure"):
        measure_catalog(folder, load_contracts(folder))


def test_a_measure_is_defined_once(tmp_path: Path) -> None:
    definition = {
        "id": "students_enrolled",
        "name": "again",
        "group": "participation",
        "value_type": "count",
        "unit": "students",
        "suppression_rule": "count",
        "definition": "a second definition",
    }
    folder = _variant(tmp_path, "ky_local_labs", lambda d: d.update(measure_definitions=[definition]))
    with pytest.raises(MeasureCatalogError, match="already defined"):
        measure_catalog(folder, load_contracts(folder))


def test_every_program_is_described_exactly_once(tmp_path: Path) -> None:
    folder = _variant(tmp_path, "ky_local_labs", lambda d: d.pop("program_details"))
    with pytest.raises(MeasureCatalogError, match="program_details missing for \\['ky_local_labs'\\]"):
        program_details(load_contracts(folder))


def test_per_aggregates_in_two_steps_and_where_filters_rows(tmp_path: Path) -> None:
    groups = _groups(CONTRACTS["ky_local_labs"])
    assert [g["per"] for g in groups] == [["grade"]]
    assert [r["measure"] for r in groups[0]["rules"]][:2] == ["students_participating", "students_enrolled"]

    rule = {
        "measure": "students_proficient",
        "field": "students_proficient",
        "where": [
            {"field": "grade", "equals": "12"},
            {"field": "competency", "in": ["Innovation", "Resiliency"]},
        ],
    }
    folder = _variant(tmp_path, "ky_local_labs", lambda d: d["transform"].update(measures=[rule]))
    (group,) = _groups(load_contract(folder / "ky_local_labs.yml"))
    # Categories are compared in their landed (normalized) form.
    assert group["where"] == ["grade = '12'", "competency in ('innovation', 'resiliency')"]
    assert group["per"] == []


def test_outcome_feeds_keep_state_totals_and_programs_do_not() -> None:
    for contract in CONTRACTS.values():
        assert _registry_entry(contract)["rows"] == ("all" if contract.kind == "outcomes" else "district")


def test_coverage_expects_only_what_was_delivered() -> None:
    delivered = {("ky_local_labs", "KY-851"), ("state_outcomes", "WA")}
    assert coverage_of(CONTRACTS, delivered) == {
        "expected_programs": ["ky_local_labs"],
        "expected_states": ["KY"],
        "expected_outcome_states": ["WA"],
    }
    assert coverage_of(CONTRACTS, set()) == {
        "expected_programs": [],
        "expected_states": [],
        "expected_outcome_states": [],
    }
    # A state's own outcome file counts for its state; a source that no contract has is ignored.
    assert coverage_of(CONTRACTS, {("co_chronic_absenteeism", "CO"), ("gone", "x")})[
        "expected_outcome_states"
    ] == ["CO"]
    everything = coverage_of(CONTRACTS, {(s, "x") for s in CONTRACTS})
    assert everything["expected_programs"] == sorted(
        {c.program for c in CONTRACTS.values() if c.kind == "program"}
    )
