"""A resubmission racing with a marts build leaves the marts consistent with one or the other
(issue 7), on a real PostgreSQL with real dbt and the real loader.

dbt builds each model in its own transaction (and the marts DAG each model in its own Airflow task),
so a resubmission committing mid-build could reach some marts and not others. Every build pins a
snapshot first (``innovation_pipeline.marts_snapshot``); these tests land a corrected Kentucky file
between the steps of a build, and concurrently with whole builds, and check that every mart shows
the same submission, whose numbers are the ones in its file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sample_warehouse import DbtRun, SampleInbox, run_dbt

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "ky_local_labs"
DISTRICT_FILE = "KY_LLL_797_SY2024.csv"
SUBMITTER, DISTRICT_CODE, YEAR = "KY-797", "797", 2024
#: The models the checks read, with everything upstream of them.
MARTS = "+fct_program_participation +cross_state_program_comparison +submission_quality"

pytestmark = pytest.mark.slow


@dataclass
class Ky:
    url: str
    work: Path
    inbox: Path
    #: expected (students_assessed, students_proficient) per loaded submission id of district 797
    expected: dict[int, tuple[int, int]]
    baseline: dict[str, Any] = dataclasses.field(default_factory=dict)

    def dbt(self, *args: str, as_of: int | None = None) -> DbtRun:
        extra = ["--vars", json.dumps({"as_of_submission_id": as_of})] if as_of is not None else []
        run = run_dbt(self.work, *args, *extra)
        assert run.returncode == 0, run.output[-6000:]
        return run

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


def file_totals(path: Path) -> tuple[int, int]:
    """(students assessed, students proficient) of a KY file: its Defended and Proficient columns."""
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    return sum(int(r["Defended"]) for r in rows), sum(int(r["Proficient"]) for r in rows)


def resubmission(original: Path, out: Path, version: int) -> Path:
    """A corrected copy of ``original``: ``version`` fewer students defended (and proficient) per row."""
    text = original.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(int(r["Proficient"]) > version for r in rows)
    for r in rows:
        r["Defended"] = str(int(r["Defended"]) - version)
        r["Proficient"] = str(int(r["Proficient"]) - version)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path = out / f"{original.stem}_v{version}.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path


def land(ky: Ky, path: Path) -> int:
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.landing import land_file

    result = land_file(load_contract(ROOT / "programs" / f"{SOURCE}.yml"), path)
    assert result.status == "loaded", result
    ky.expected[result.submission_id] = file_totals(path)
    return result.submission_id


@pytest.fixture(scope="module")
def ky(isolated_warehouse_url: str, sample_inbox: SampleInbox, session_tmp: Path) -> Iterator[Ky]:
    """Every Kentucky sample landed and the marts built once, in a database of this module's own."""

    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.landing import FileRejected, land_file
    from innovation_pipeline.warehouse_setup import prepare_warehouse

    out, manifest = sample_inbox.folder, sample_inbox.manifest
    prepare_warehouse()
    contract = load_contract(ROOT / "programs" / f"{SOURCE}.yml")
    for entry in manifest["files"]:
        if entry["source"] == SOURCE:
            try:
                land_file(contract, out / entry["path"])
            except FileRejected:
                assert entry["expected_status"] == "rejected", entry["path"]
    ky = Ky(isolated_warehouse_url, session_tmp / "snapshot_dbt", out / "inbox" / SOURCE, {})
    ky.work.mkdir(parents=True, exist_ok=True)
    (current,) = ky.rows(
        "select submission_id from audit.submissions where source = %s and submitter = %s"
        " and school_year = %s and status = 'loaded'",
        (SOURCE, SUBMITTER, YEAR),
    )
    ky.expected[current[0]] = file_totals(ky.inbox / DISTRICT_FILE)
    ky.dbt("seed")
    ky.dbt("run", "--select", MARTS)
    ky.baseline = marts_state(ky)
    yield ky


def marts_state(ky: Ky) -> dict[str, Any]:
    """What the three marts say about district 797's 2024 Kentucky submission."""
    facts = ky.rows(
        "select f.measure_id, f.value, f.last_submission_id from marts.fct_program_participation f"
        " join ref.districts d using (district_id)"
        " where f.program_id = %s and f.school_year = %s and d.state_code = %s"
        " and f.measure_id in ('students_assessed', 'students_proficient') order by 1",
        (SOURCE, YEAR, DISTRICT_CODE),
    )
    comparison = ky.rows(
        "select measure_id, participating_value from marts.cross_state_program_comparison"
        " where program_id = %s and school_year = %s"
        " and measure_id in ('students_assessed', 'students_proficient') order by 1",
        (SOURCE, YEAR),
    )
    (quality,) = ky.rows(
        "select effective_submission_id, submissions_superseded, rows_loaded from marts.submission_quality"
        " where source = %s and submitter = %s and school_year = %s",
        (SOURCE, SUBMITTER, YEAR),
    )
    return {
        "facts": facts,
        "comparison": comparison,
        "quality": quality,
    }


def other_districts(state: dict[str, Any]) -> dict[str, Any]:
    """Per measure, the comparison mart's participating total minus district 797's value."""
    district = {measure: value for measure, value, _ in state["facts"]}
    return {measure: total - district[measure] for measure, total in state["comparison"]}


def shown_submission(ky: Ky, state: dict[str, Any]) -> int:
    """The one submission every mart shows for district 797 (fails naming the marts that disagree)."""
    fact_ids = {sub for _, _, sub in state["facts"]}
    effective = state["quality"][0]
    assert fact_ids == {effective}, (
        f"fct_program_participation shows submission(s) {sorted(fact_ids)} but submission_quality"
        f" shows {effective}: the marts were built from different states of the landing zone"
    )
    values = {measure: value for measure, value, _ in state["facts"]}
    assert (values["students_assessed"], values["students_proficient"]) == ky.expected[effective], (
        f"district 797's numbers in the marts are not those of submission {effective}'s file"
    )
    # The comparison mart sums the same district rows: without district 797 it is what the other
    # districts (which nothing here changes) add up to, build after build.
    assert other_districts(state) == other_districts(ky.baseline), (
        "cross_state_program_comparison does not add up to the fact mart's district 797"
    )
    return effective


def test_a_snapshot_waits_for_a_load_in_flight(ky: Ky) -> None:
    from innovation_pipeline.marts_snapshot import hold_load_fence, take_marts_snapshot

    taken: list[int] = []
    with psycopg.connect(ky.url) as loader:
        hold_load_fence(loader)  # as land_file does first in its transaction
        (sha,) = loader.execute("select md5(random()::text)").fetchone()  # type: ignore[misc]
        loader.execute(
            "insert into audit.files (file_sha256, size_bytes, original_name, archive_path)"
            " values (%s, 0, 'in_flight.csv', '-')",
            (sha,),
        )
        (in_flight,) = loader.execute(
            "insert into audit.submissions (source, program, state, submitter, school_year, file_sha256,"
            " file_name, received_at, status) values (%s, %s, 'KY', 'in-flight', 2024, %s, 'in_flight.csv',"
            " now(), 'rejected') returning submission_id",
            (SOURCE, SOURCE, sha),
        ).fetchone()  # type: ignore[misc]
        waiter = threading.Thread(target=lambda: taken.append(take_marts_snapshot("test-wait")))
        waiter.start()
        waiter.join(timeout=2)
        assert waiter.is_alive() and not taken, "the snapshot did not wait for the load in flight"
        loader.commit()
    waiter.join(timeout=300)
    assert taken == [in_flight], "the snapshot must include the load it waited for"
    # A retried build reads the same snapshot, whatever landed since.
    assert take_marts_snapshot("test-wait") == in_flight
    ky.rows("delete from audit.submissions where submission_id = %s returning 1", (in_flight,))


def test_a_resubmission_landing_mid_build_waits_for_the_next_build(ky: Ky, tmp_path: Path) -> None:
    from innovation_pipeline.marts_snapshot import take_marts_snapshot

    before = marts_state(ky)
    first = shown_submission(ky, before)

    # As the marts DAG runs it: one snapshot for the run, then staging and intermediate models, ...
    as_of = take_marts_snapshot("test-mid-build-1")
    ky.dbt("run", "--select", "staging", "intermediate", as_of=as_of)
    # ... a corrected file commits while the build is half done ...
    corrected = land(ky, resubmission(ky.inbox / DISTRICT_FILE, tmp_path, 1))
    assert corrected > as_of
    # ... and the marts models run.
    ky.dbt("run", "--select", "marts", as_of=as_of)
    during = marts_state(ky)
    assert shown_submission(ky, during) == first
    assert during == before, "the build that started before the resubmission must not show any of it"

    # The next build shows the resubmission everywhere.
    ky.dbt("run", "--select", MARTS, as_of=take_marts_snapshot("test-mid-build-2"))
    after = marts_state(ky)
    assert shown_submission(ky, after) == corrected
    assert after["quality"][1] == before["quality"][1] + 1  # one more superseded submission


def test_without_one_snapshot_per_build_the_marts_disagree(ky: Ky, tmp_path: Path) -> None:
    """The control: the same interleaving, but the later models read the landing zone as it is by
    then (what each task would do without the run's snapshot). The check above catches it."""
    from innovation_pipeline.marts_snapshot import take_marts_snapshot

    shown_submission(ky, marts_state(ky))
    ky.dbt("run", "--select", "staging", "intermediate", as_of=take_marts_snapshot("test-control-1"))
    land(ky, resubmission(ky.inbox / DISTRICT_FILE, tmp_path, 2))
    # The marts read the landing zone as it is now; the program models were built before the
    # resubmission committed.
    ky.dbt("run", "--select", "marts", as_of=take_marts_snapshot("test-control-2"))
    with pytest.raises(AssertionError, match=r"built from different states|not those of submission"):
        shown_submission(ky, marts_state(ky))
    # The incremental models now carry the newer high-water mark over stale rows, so only a full
    # refresh on one snapshot repairs it: the mixed build must never happen, hence the snapshot.
    ky.dbt("run", "--full-refresh", "--select", MARTS, as_of=take_marts_snapshot("test-control-3"))
    shown_submission(ky, marts_state(ky))


def test_a_build_fails_rather_than_mix_snapshots(ky: Ky, tmp_path: Path) -> None:
    """A step of a build whose snapshot another build has replaced stops, saying why; and an old
    build cannot be re-run over a newer one."""
    from innovation_pipeline.marts_snapshot import take_marts_snapshot

    old = take_marts_snapshot("test-superseded-build")
    ky.dbt("run", "--select", "dim_program", as_of=old)
    land(ky, resubmission(ky.inbox / DISTRICT_FILE, tmp_path, 7))
    assert take_marts_snapshot("test-newer-build") > old
    extra = ["--vars", json.dumps({"as_of_submission_id": old})]
    run = run_dbt(ky.work, "run", "--select", "dim_program", *extra)
    assert run.returncode != 0 and "has since pinned" in run.output, run.output[-3000:]
    with pytest.raises(psycopg.errors.RaiseException, match="cannot run again"):
        take_marts_snapshot("test-superseded-build")
    # A value that is not a submission id (an XCom that did not render) fails the step too.
    run = run_dbt(ky.work, "run", "--select", "dim_program", "--vars", '{"as_of_submission_id": "None"}')
    assert run.returncode != 0 and 'invalid input syntax for type bigint: "None"' in run.output


def test_whole_builds_racing_resubmissions_are_each_consistent(ky: Ky, tmp_path: Path) -> None:
    """Plain ``dbt run`` invocations (each pins its own snapshot at on-run-start) while corrected
    files keep landing from another thread: every build shows exactly one submission everywhere."""
    landed: list[int] = []
    errors: list[BaseException] = []

    def keep_resubmitting() -> None:
        try:
            for version in (3, 4, 5, 6):
                landed.append(land(ky, resubmission(ky.inbox / DISTRICT_FILE, tmp_path, version)))
                time.sleep(4)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    shown: list[int] = []
    resubmitter = threading.Thread(target=keep_resubmitting)
    resubmitter.start()
    try:
        while resubmitter.is_alive() or not shown:
            ky.dbt("run", "--select", MARTS)
            shown.append(shown_submission(ky, marts_state(ky)))
    finally:
        resubmitter.join(timeout=900)
    assert not errors, errors
    ky.dbt("run", "--select", MARTS)
    assert shown_submission(ky, marts_state(ky)) == landed[-1]
    # Each build pinned its own snapshot and recorded it.
    builds = ky.rows("select count(*) from audit.marts_builds where requested_by like 'dbt %%'")[0][0]
    assert builds >= len(shown) + 1
