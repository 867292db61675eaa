"""Every generated sample lands through its contract with exactly the outcome the manifest expects:
each injected defect is caught with its reason, and everything else loads.

The samples are those the session lands once (``sample_landing``): each source's files
landed in file-name order, as an inbox listing gives them."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from sample_warehouse import SampleLanding

from innovation_pipeline.contracts import load_contracts


@pytest.fixture(scope="module")
def warehouse_url(sample_landing_url: str) -> str:
    """The session's shared landed samples: the whole inbox (and the real CDE workbook)."""
    return sample_landing_url


@pytest.fixture(scope="module")
def landed(sample_landing: SampleLanding, warehouse_url: str) -> tuple[dict, dict, dict]:
    manifest = sample_landing.samples.manifest
    written = json.loads((sample_landing.samples.folder / "manifest.json").read_text())
    assert written == json.loads(json.dumps(manifest))
    with psycopg.connect(warehouse_url) as conn:
        subs = {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "select source, file_name, status, rows_received, rows_loaded, rows_quarantined, reason_code,"
                " submitter, school_year, is_late from audit.submissions"
            )
        }
        caught: dict[tuple[str, str], set] = defaultdict(set)
        for source, name, row, reason in conn.execute(
            "select s.source, s.file_name, q.source_row, q.reason_code"
            " from audit.quarantine q join audit.submissions s using (submission_id)"
        ):
            caught[(source, name)].add((row, reason))
    return manifest, subs, caught


def test_every_file_has_the_expected_outcome(landed):
    manifest, subs, _ = landed
    assert len(manifest["files"]) >= 100
    mismatches = []
    for entry in manifest["files"]:
        key = (entry["source"], Path(entry["path"]).name)
        assert key in subs, f"no audit record for {key}"
        status, received, loaded, quarantined, reason, submitter, year, late = subs[key]
        expected = (entry["expected_status"], entry["reason_code"])
        actual = (status, reason if status == "rejected" else None)
        if entry["expected_status"] in ("loaded", "superseded"):
            expected += (
                entry["rows_received"],
                entry["rows_loaded"],
                entry["rows_quarantined"],
                entry["submitter"],
                entry["school_year"],
                entry["expected_late"],
            )
            actual += (received, loaded, quarantined, submitter, year, late)
        if expected != actual:
            mismatches.append((key, expected, actual))
    assert mismatches == []


def test_every_injected_defect_is_caught_and_nothing_else(landed):
    manifest, _, caught = landed
    expected: dict[tuple[str, str], set] = defaultdict(set)
    for defect in manifest["defects"]:
        entry = next(f for f in manifest["files"] if f["path"] == defect["file"])
        expected[(entry["source"], Path(entry["path"]).name)].add(
            (defect["source_row"], defect["reason_code"])
        )
    files = {(f["source"], Path(f["path"]).name) for f in manifest["files"]}
    # Other tests share the session database: compare only this manifest's files.
    assert {k: v for k, v in caught.items() if v and k in files} == dict(expected)
    codes = {reason for rows in expected.values() for _, reason in rows}
    assert {
        "missing_value",
        "not_a_number",
        "not_whole_number",
        "out_of_range",
        "not_allowed_value",
        "bad_date",
        "bad_school_year",
        "school_year_out_of_range",
        "unknown_district",
        "district_mismatch",
        "duplicate_key",
        "value_too_long",
    } <= codes


def test_some_submissions_are_late_and_most_on_time(landed):
    _, subs, _ = landed
    late = [v[7] for v in subs.values() if v[0] in ("loaded", "superseded")]
    assert 0 < late.count(True) < late.count(False)


def test_every_sampled_program_and_outcome_feed_loaded(landed):
    manifest, subs, _ = landed
    loaded_sources = {source for (source, _), v in subs.items() if v[0] == "loaded"}
    sampled = {f["source"] for f in manifest["files"]}
    kinds = {c.source: c.kind for c in load_contracts().values()}
    # Programs and outcome feeds both sampled (a contract onboarded later may have no samples).
    assert {kinds[s] for s in sampled} == {"program", "outcomes"}
    assert sampled <= loaded_sources
    years = {v[6] for (source, _), v in subs.items() if v[0] == "loaded"}
    assert set(manifest["years"]) <= years


def test_received_equals_loaded_plus_quarantined_everywhere(db, landed):
    bad = db.execute(
        "select file_name from audit.submissions where status in ('loaded', 'superseded')"
        " and rows_received <> rows_loaded + rows_quarantined"
    ).fetchall()
    assert bad == []
