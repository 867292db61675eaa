"""One YAML onboards a source all the way to the marts, through the real DAGs.

In a copy of the project, the test writes two contracts and nothing else a person would write: a
brand-new program (Oregon, a state no other contract uses, with measures of its own) and a
brand-new outcome feed (Oregon graduation, with a new measure). Oregon's districts are added to the
copy's reference directory, as a new state's districts would be imported. Then:

1. with both contracts present and no submission yet, the marts build (dbt after the contracts
   sync, as every path into dbt does) and pass the marts' GX suites, which gate ``build_marts``'s
   publishing: every other program's marts still publish;
2. after the Oregon files land through their ``ingest_<source>`` DAGs, ``build_marts`` publishes
   them in ``fct_program_participation``, ``fct_district_outcomes`` and
   ``cross_state_program_comparison`` with the totals computed here from the files' rows;
3. the only files that differ from the original project are the two contracts, the directory and
   what ``contracts sync`` generated from them: no SQL, Python or seed written by hand.
"""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from env_helpers import PipelineEnvironment
from sample_warehouse import SampleInbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("programs", "dags", "dbt_project", "expectations")
MARTS_DAG = "build_marts"
# The marts publish rates and ratios at 4 decimals (macros/published_number.sql): half a unit of the
# last place.
RATE_PUBLISHED_TO = 0.00005
SCHOOL_YEAR = 2024

PROGRAM_CONTRACT = """\
source: or_career_pathways
title: Oregon Career Pathways Innovation
state: OR
program: or_career_pathways
kind: program
entity: one school's career pathway in a participating district
submitter: district
due: {month: 7, day: 1}
file:
  pattern: '^OR_CP_(?P<submitter>\\d{4})_(?P<school_year>[^_.]+)\\.csv$'
  format: csv
district:
  scheme: state_code
  column: District Code
  width: 4
  role: submitter
fields:
  - {name: school_code, source: School Code, type: text}
  - {name: level, source: Level, type: category, allowed: [middle, high]}
  - {name: students_in_pathway, source: Students in Pathway, type: integer, min: 0, suppressible: true}
  - {name: certificates, source: Industry Certificates, type: integer, min: 0}
  - {name: mentor_hours, source: Mentor Hours, type: number, min: 0}
natural_key: [school_code, level]
program_details:
  name: Career Pathways Innovation
  agency: Oregon Department of Education
  participant_definition: students enrolled in a career pathway at a participating school
  description: Districts pair students with industry mentors and certificates in career pathways.
transform:
  entity: school_pathways
  measures:
    - {measure: students_participating, field: students_in_pathway}
    - {measure: schools_participating, aggregate: count_distinct, field: school_code}
    - {measure: industry_certificates, field: certificates, where: [{field: level, equals: high}]}
    - {measure: mentor_hours, field: mentor_hours}
measure_definitions:
  - id: industry_certificates
    name: Industry certificates earned
    group: program_specific
    value_type: count
    unit: certificates
    higher_is_better: true
    suppression_rule: none
    definition: Industry-recognized certificates earned by high-school pathway students (OR).
  - id: mentor_hours
    name: Mentor hours
    group: program_specific
    value_type: amount
    unit: hours
    higher_is_better: true
    suppression_rule: none
    definition: Hours students spent with industry mentors (OR).
"""

OUTCOME_CONTRACT = """\
source: or_graduation
title: Oregon graduation and ninth-grade on-track
state: OR
program: state_outcomes
kind: outcomes
entity: one district's graduation outcomes in one school year
submitter: state
due: {month: 12, day: 1}
file:
  pattern: '^OR_graduation_(?P<school_year>[^_.]+)\\.csv$'
  format: csv
rows:
  state_total: {column: District, equals: State Total}
district:
  scheme: state_code
  column: District Code
  width: 4
fields:
  - {name: district_name, source: District, type: text, required: false}
  - {name: enrollment, source: Enrollment, type: integer, min: 0}
  - {name: graduates, source: Four-Year Graduates, type: integer, min: 0}
  - {name: cohort, source: Four-Year Cohort, type: integer, min: 0}
  - {name: on_track_rate, source: Ninth Grade On Track, type: rate, format: percent}
natural_key: [district_id]
transform:
  entity: district_graduation
  outcome_priority: 1
  measures:
    - {measure: enrollment, field: enrollment}
    - {measure: graduation_rate_4yr, aggregate: ratio, numerator: graduates, denominator: cohort}
    - {measure: ninth_grade_on_track_rate, aggregate: max, field: on_track_rate}
measure_definitions:
  - id: ninth_grade_on_track_rate
    name: Ninth-grade on-track rate
    group: outcome
    value_type: rate
    unit: fraction 0..1
    higher_is_better: true
    suppression_rule: rate
    denominator: enrollment
    definition: Share of ninth graders earning enough credits to be on track to graduate (OR).
"""

# Oregon's districts, as the directory import would add a new state's; made up for the test.
DISTRICTS = [("9001", "Cascade Test"), ("9002", "Willamette Test"), ("9003", "High Desert Test")]

# (district code, school, level, students in pathway, certificates, mentor hours)
PATHWAY_ROWS = {
    "9001": [("101", "Middle", "40", "0", "120.5"), ("102", "High", "55", "12", "300")],
    "9002": [("201", "High", "25", "7", "80"), ("202", "High", "*", "3", "10")],
}
# (district code, district, enrollment, graduates, cohort, on-track %); 9003 runs no pathway. The
# State Total is the state's own figure (students move), not the sum of the districts.
OUTCOME_ROWS = [
    ("9001", "Cascade Test", "1200", "177", "200", "91.0"),
    ("9002", "Willamette Test", "800", "79", "100", "85.0"),
    ("9003", "High Desert Test", "450", "46", "50", "90.0"),
    ("", "State Total", "2475", "310", "356", "88.9"),
]


@dataclass
class Run:
    state: str
    tasks: dict[str, str]


def _run(dag: Any) -> Run:
    from innovation_pipeline.demo import state_name

    dag_run = dag.test()
    tasks = {
        f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]": state_name(ti.state)
        for ti in dag_run.get_task_instances()
    }
    return Run(state_name(dag_run.state), tasks)


def _copy_project(target: Path) -> None:
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", ".user.yml")
    for name in COPIED:
        shutil.copytree(ROOT / name, target / name, ignore=ignore)


def _add_districts(project: Path) -> None:
    """Oregon's districts in the copy's directory (the directory is reference data, not onboarding)."""
    path = project / "programs" / "reference" / "districts.csv"
    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    with path.open("a", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        for code, name in DISTRICTS:
            row = {k: "" for k in header}
            row.update(district_id=f"OR-{code}", state="OR", state_code=code, name=name, is_synthetic="true")
            writer.writerow({k: v for k, v in row.items() if k in header})


def _write_csv(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _drop_oregon_files() -> None:
    from innovation_pipeline.orchestration.inbox import inbox

    for code, rows in PATHWAY_ROWS.items():
        target = Path(inbox("or_career_pathways").path) / f"OR_CP_{code}_2023-24.csv"
        header = [
            "District Code",
            "School Code",
            "Level",
            "Students in Pathway",
            "Industry Certificates",
            "Mentor Hours",
        ]
        _write_csv(target, header, [(code, *row) for row in rows])
    target = Path(inbox("or_graduation").path) / "OR_graduation_2023-24.csv"
    header = [
        "District Code",
        "District",
        "Enrollment",
        "Four-Year Graduates",
        "Four-Year Cohort",
        "Ninth Grade On Track",
    ]
    _write_csv(target, header, OUTCOME_ROWS)


@pytest.fixture(scope="module")
def onboarded(
    pipeline_environment: PipelineEnvironment,
    sample_inbox: SampleInbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """The copy, other programs' sample files landed, the two contracts added; both marts runs."""
    import psycopg

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.dbt_codegen import sync_project
    from innovation_pipeline.demo import load_dags, migrate_airflow_db
    from innovation_pipeline.dq.validate import validate_marts
    from innovation_pipeline.landing import FileRejected, land_file
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    work = tmp_path_factory.mktemp("onboard")
    project = work / "project"
    _copy_project(project)
    pipeline_environment.use(
        PIPELINE_HOME=str(project),
        PIPELINE_DATA_DIR=str(work / "data"),
        PIPELINE_OUTPUT_DIR=str(work / "output"),
        DBT_PROFILES_DIR=str(project / "dbt_project"),
        PIPELINE_RETRY_DELAY_SECONDS="1",
    )
    migrate_airflow_db(dict(os.environ))
    # The other programs' deliveries: two files of every existing source, landed directly.
    manifest = sample_inbox.manifest
    per_source: dict[str, int] = {}
    for entry in manifest["files"]:
        if entry["expected_status"] == "rejected" or per_source.get(entry["source"], 0) >= 2:
            continue
        try:
            land_file(
                load_contract(project / "programs" / f"{entry['source']}.yml"),
                sample_inbox.folder / entry["path"],
            )
        except FileRejected:
            continue
        per_source[entry["source"]] = per_source.get(entry["source"], 0) + 1

    # Onboarding: two contracts (and the new state's districts in the directory).
    (project / "programs" / "or_career_pathways.yml").write_text(PROGRAM_CONTRACT, encoding="utf-8")
    (project / "programs" / "or_graduation.yml").write_text(OUTCOME_CONTRACT, encoding="utf-8")
    _add_districts(project)

    # No file yet: the marts build and their GX gate passes for everything already received.
    sync_project()
    ensure_manifest()  # parsed here, not inside the DagBag's import timeout below
    prepare_warehouse()
    build = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "build",
            "--project-dir",
            str(project / "dbt_project"),
        ],
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:]
    gate = validate_marts()
    with psycopg.connect(os.environ["WAREHOUSE_URL"], autocommit=True) as conn:
        programs_before = {
            r[0] for r in conn.execute("select distinct program_id from marts.fct_program_participation")
        }

    dags = load_dags()
    assert {"ingest_or_career_pathways", "ingest_or_graduation", MARTS_DAG} <= set(dags)

    _drop_oregon_files()
    ingest = {d: _run(dags[d]) for d in ("ingest_or_career_pathways", "ingest_or_graduation")}
    after = _run(load_dags()[MARTS_DAG])
    yield {
        "project": project,
        "per_source": per_source,
        "gate": gate,
        "programs_before": programs_before,
        "ingest": ingest,
        "after": after,
    }


@pytest.fixture()
def conn(onboarded: dict[str, Any]) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(os.environ["WAREHOUSE_URL"], autocommit=True) as c:
        yield c


def test_a_contract_with_no_submissions_does_not_block_the_other_marts(onboarded: dict[str, Any]) -> None:
    from innovation_pipeline.dq.suites import mart_suites

    gate = onboarded["gate"]
    assert gate["success"], gate
    assert {r["suite"] for r in gate["runs"]} == {s.name for s in mart_suites()}
    landed_programs = {
        s for s in onboarded["per_source"] if s not in {"state_outcomes", "co_chronic_absenteeism"}
    }
    assert onboarded["programs_before"] == landed_programs
    assert "or_career_pathways" not in onboarded["programs_before"]


def test_the_new_sources_land_through_their_dags(onboarded: dict[str, Any], conn: Any) -> None:
    for dag_id, run in onboarded["ingest"].items():
        assert run.state == "success", (dag_id, run.tasks)
    statuses = conn.execute(
        "select source, status, rows_received, rows_loaded, rows_quarantined from audit.submissions"
        " where state = 'OR' order by file_name"
    ).fetchall()
    expected = [("or_career_pathways", "loaded", 2, 2, 0)] * 2 + [("or_graduation", "loaded", 4, 4, 0)]
    assert statuses == expected
    after = onboarded["after"]
    assert after.state == "success", {t: s for t, s in after.tasks.items() if s != "success"}
    assert after.tasks["validate[-1]"] == "success" and after.tasks["publish[-1]"] == "success"


def _cells(conn: Any, query: str, *params: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(r[:-3]): tuple(r[-3:]) for r in conn.execute(query, params).fetchall()}


def test_the_new_program_reaches_fct_program_participation(onboarded: dict[str, Any], conn: Any) -> None:
    cells = _cells(
        conn,
        "select district_id, measure_id, value, is_suppressed, source_marker from marts.fct_program_participation"
        " where program_id = 'or_career_pathways' and school_year = %s",
        SCHOOL_YEAR,
    )
    expected: dict[tuple[str, str], tuple[Any, ...]] = {}
    for code, rows in PATHWAY_ROWS.items():
        district = f"OR-{code}"
        students = [r[2] for r in rows]
        if "*" in students:
            expected[(district, "students_participating")] = (None, True, "*")
        else:
            expected[(district, "students_participating")] = (sum(int(s) for s in students), False, None)
        expected[(district, "schools_participating")] = (len({r[0] for r in rows}), False, None)
        certificates = sum(int(r[3]) for r in rows if r[1] == "High")
        expected[(district, "industry_certificates")] = (certificates, False, None)
        expected[(district, "mentor_hours")] = (sum(float(r[4]) for r in rows), False, None)
    # Complementary suppression (dbt_project/README.md): with one district's count hidden at source,
    # the state's other count would reveal it from the total, so it is hidden too.
    hidden = [d for (d, m), v in expected.items() if m == "students_participating" and v[1]]
    if len(hidden) == 1:
        for (d, m), v in list(expected.items()):
            if m == "students_participating" and not v[1]:
                expected[(d, m)] = (None, True, None)
    got = {k: (None if v[0] is None else float(v[0]), v[1], v[2]) for k, v in cells.items()}
    assert got == {k: (None if v[0] is None else float(v[0]), v[1], v[2]) for k, v in expected.items()}


def test_the_new_outcome_feed_reaches_fct_district_outcomes(onboarded: dict[str, Any], conn: Any) -> None:
    rows = conn.execute(
        "select coalesce(district_id, 'STATE'), measure_id, value, source from marts.fct_district_outcomes"
        " where state = 'OR' and school_year = %s",
        (SCHOOL_YEAR,),
    ).fetchall()
    got = {(d, m): (float(v), s) for d, m, v, s in rows}
    expected = {}
    for code, _name, enrollment, graduates, cohort, on_track in OUTCOME_ROWS:
        district = f"OR-{code}" if code else "STATE"
        expected[(district, "enrollment")] = (float(enrollment), "or_graduation")
        expected[(district, "graduation_rate_4yr")] = (int(graduates) / int(cohort), "or_graduation")
        expected[(district, "ninth_grade_on_track_rate")] = (float(on_track) / 100, "or_graduation")
    assert got.keys() == expected.keys()
    for key, (value, source) in expected.items():
        assert got[key][0] == pytest.approx(value, abs=RATE_PUBLISHED_TO), key
        assert got[key][1] == source


def test_the_new_program_reaches_cross_state_program_comparison(onboarded: dict[str, Any], conn: Any) -> None:
    rows = conn.execute(
        "select measure_id, participating_value, participating_districts_reporting, non_participating_value"
        " from marts.cross_state_program_comparison"
        " where program_id = 'or_career_pathways' and state = 'OR' and school_year = %s",
        (SCHOOL_YEAR,),
    ).fetchall()
    by_measure = {m: (v, n, nv) for m, v, n, nv in rows}
    hours = sum(float(r[4]) for rows_ in PATHWAY_ROWS.values() for r in rows_)
    assert float(by_measure["mentor_hours"][0]) == pytest.approx(hours)
    assert by_measure["mentor_hours"][1] == len(PATHWAY_ROWS)
    # An outcome rate beside the program: participants' districts weighted by enrollment, against
    # the one district without the program.
    outcome = {r[0]: r for r in OUTCOME_ROWS if r[0]}

    def rate(code: str) -> float:
        return int(outcome[code][3]) / int(outcome[code][4])

    weights = [(int(outcome[c][2]), rate(c)) for c in PATHWAY_ROWS]
    participating = sum(w * r for w, r in weights) / sum(w for w, _ in weights)
    assert float(by_measure["graduation_rate_4yr"][0]) == pytest.approx(participating, abs=RATE_PUBLISHED_TO)
    assert float(by_measure["graduation_rate_4yr"][2]) == pytest.approx(rate("9003"), abs=RATE_PUBLISHED_TO)


def test_dims_describe_the_new_program_and_measures(onboarded: dict[str, Any], conn: Any) -> None:
    program = conn.execute(
        "select program_name, state_agency, sources, is_innovation_program from marts.dim_program"
        " where program_id = 'or_career_pathways'"
    ).fetchone()
    assert program == (
        "Career Pathways Innovation",
        "Oregon Department of Education",
        "or_career_pathways",
        True,
    )
    measures = dict(
        conn.execute(
            "select measure_id, definition from marts.dim_measure"
            " where measure_id in ('industry_certificates', 'mentor_hours', 'ninth_grade_on_track_rate')"
        ).fetchall()
    )
    assert set(measures) == {"industry_certificates", "mentor_hours", "ninth_grade_on_track_rate"}
    assert "ninth graders" in measures["ninth_grade_on_track_rate"]


def test_nothing_but_the_contracts_was_written_by_hand(onboarded: dict[str, Any]) -> None:
    from innovation_pipeline.dbt_codegen import GENERATED, GENERATED_SEEDS

    project: Path = onboarded["project"]
    changed: set[str] = set()
    for name in COPIED:
        for path in (project / name).rglob("*"):
            rel = path.relative_to(project)
            if not path.is_file() or {"target", "logs", "__pycache__"} & set(rel.parts):
                continue
            original = ROOT / rel
            if not original.exists() or not filecmp.cmp(path, original, shallow=False):
                changed.add(rel.as_posix())
    by_hand = {
        p
        for p in changed
        if GENERATED not in p.split("/")
        and not (p.startswith("dbt_project/seeds/") and p.rsplit("/", 1)[1] in GENERATED_SEEDS)
    }
    # dbt writes its own user file; everything else that changed came from the sync.
    by_hand.discard("dbt_project/.user.yml")
    assert by_hand == {
        "programs/or_career_pathways.yml",
        "programs/or_graduation.yml",
        "programs/reference/districts.csv",
    }
    assert f"dbt_project/models/staging/{GENERATED}/stg_or_career_pathways__school_pathways.sql" in changed
    assert f"dbt_project/models/intermediate/{GENERATED}/int_or_graduation__district_measures.sql" in changed
