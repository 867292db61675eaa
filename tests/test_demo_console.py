"""The demo's console (issue 18): its own lines only, everything Airflow, dbt and GX write in a log
file, each intended rejection explained where it happens, the samples arriving at their sample
arrival times (some late, most on time), and ingest runs dated so that the due-date check looks at
a school year the samples cover."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sample_warehouse import SampleInbox

from innovation_pipeline import demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(sample_inbox: SampleInbox) -> tuple[Path, dict]:
    return sample_inbox.folder, sample_inbox.manifest


def test_only_the_demos_lines_reach_the_console(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    probe = (
        "import logging, subprocess, sys\n"
        "from pathlib import Path\n"
        "from innovation_pipeline.demo import Console, output_to\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        f"with output_to(Path({str(log)!r})) as stream:\n"
        "    print('airflow says a lot')\n"
        "    logging.getLogger('airflow.task').error('Traceback (most recent call last): [error]')\n"
        "    subprocess.run(['echo', 'dbt says a lot too'], check=True)\n"
        "    Console(stream).line('[demo] ingest_ky_local_labs: success')\n"
        "print('[demo] after')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[demo] ingest_ky_local_labs: success", "[demo] after"]
    assert done.stderr == ""
    logged = log.read_text()
    assert "airflow says a lot" in logged and "dbt says a lot too" in logged and "Traceback" in logged


def test_staged_samples_keep_their_arrival_times(
    samples: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, manifest = samples
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PIPELINE_INBOX_URL", raising=False)
    picked = {Path(e["path"]).name for e in manifest["files"][::7]}
    assert demo.stage_samples(folder, include=lambda p: p.name in picked) == len(picked)
    for entry in manifest["files"]:
        name = Path(entry["path"]).name
        if name not in picked:
            continue
        staged = tmp_path / "data" / "inbox" / entry["source"] / name
        expected = dt.datetime.fromisoformat(entry["delivered_at"]).timestamp()
        assert abs(staged.stat().st_mtime - expected) < 1, name
    # Staging again (the demo rerun) keeps them too.
    demo.stage_samples(folder, include=lambda p: p.name in picked)
    entry = next(e for e in manifest["files"] if Path(e["path"]).name in picked)
    staged = tmp_path / "data" / "inbox" / entry["source"] / Path(entry["path"]).name
    assert abs(staged.stat().st_mtime - dt.datetime.fromisoformat(entry["delivered_at"]).timestamp()) < 1


def test_samples_are_mostly_on_time_and_some_late(samples: tuple[Path, dict]) -> None:
    _, manifest = samples
    late = [e["expected_late"] for e in manifest["files"] if e["expected_status"] in ("loaded", "superseded")]
    assert 0 < sum(late) < len(late) / 2


def test_the_due_date_check_looks_at_a_year_the_samples_cover(samples: tuple[Path, dict]) -> None:
    from innovation_pipeline.contracts import load_contracts
    from innovation_pipeline.orchestration.due import latest_due

    folder, manifest = samples
    on = demo.demo_run_date(folder).date()
    contracts = load_contracts()
    for source in {e["source"] for e in manifest["files"]}:
        years = {e["school_year"] for e in manifest["files"] if e["source"] == source and e["school_year"]}
        year, _ = latest_due(contracts[source], on)
        assert year in years, (
            f"{source}: the check on {on} looks at {year}, the samples cover {sorted(years)}"
        )


def test_intended_rejections_come_from_the_manifest(samples: tuple[Path, dict]) -> None:
    folder, manifest = samples
    intended = demo.intended_rejections(folder)
    rejected = {
        Path(e["path"]).name: e["note"] for e in manifest["files"] if e["expected_status"] == "rejected"
    }
    assert intended == rejected and all(intended.values())


def test_a_rejection_is_explained_with_its_intended_defect(db, samples: tuple[Path, dict]) -> None:  # type: ignore[no-untyped-def]
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.landing import FileRejected, land_file

    folder, manifest = samples
    entry = next(
        e for e in manifest["files"] if e["source"] == "ky_local_labs" and e["expected_status"] == "rejected"
    )
    path = folder / entry["path"]
    with pytest.raises(FileRejected):
        land_file(load_contract(ROOT / "programs" / "ky_local_labs.yml"), path)
    lines = demo.source_outcome("ky_local_labs", {path.name}, demo.intended_rejections(folder))
    assert lines[0] == "1 file(s): 1 rejected"
    assert lines[1].startswith(f"  - {path.name}: rejected on purpose ({entry['note']}): ")
    lines = demo.source_outcome("ky_local_labs", {path.name}, {})
    assert "not one of the intended defects" in lines[1]


def test_console_progress_off_a_terminal_is_throttled(tmp_path: Path) -> None:
    out = (tmp_path / "console.txt").open("w")
    console = demo.Console(out)
    for i in range(50):
        console.live(f"[demo] build_marts: running {i}s")
    console.line("[demo] build_marts: success")
    out.close()
    assert (tmp_path / "console.txt").read_text().splitlines() == [
        "[demo] build_marts: running 0s",
        "[demo] build_marts: success",
    ]
