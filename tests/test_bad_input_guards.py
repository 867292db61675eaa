"""Guards around the loader that the hostile-input corpus cannot show file by file (issue 17):
the safety net for unforeseen errors, loads of different sources not waiting for each other,
links in the inbox, the pseudonym key outside development, and a file misnamed for another year."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
import yaml
from bad_input_helpers import add_zz_district

from innovation_pipeline import mapping
from innovation_pipeline.contracts import Contract, load_contract
from innovation_pipeline.landing import FileRejected, file_sha256, land_file

HEADER = "District Number,Grade,Competency,Students Defended"
BASE = {
    "title": "Guards",
    "state": "ZZ",
    "program": "zz_guards",
    "entity": "a district's defenses of one competency at one grade",
    "submitter": "district",
    "due": {"month": 7, "day": 15},
    "district": {"scheme": "state_code", "column": "District Number", "width": 3, "role": "submitter"},
    "fields": [
        {"name": "grade", "source": "Grade", "type": "category", "allowed": ["5", "8", "12"]},
        {"name": "competency", "source": "Competency", "type": "category", "allowed": ["innovation"]},
        {"name": "students_defended", "source": "Students Defended", "type": "integer", "min": 0},
    ],
    "natural_key": ["grade", "competency"],
}


def _contract(folder: Path, source: str, prefix: str, **changes) -> Contract:
    data = {
        **BASE,
        "source": source,
        "file": {
            "pattern": rf"^{prefix}_(?P<submitter>\d{{3}})_(?P<school_year>\d{{4}}-\d{{2}})(_.*)?\.csv$",
            "format": "csv",
        },
        **changes,
    }
    path = folder / f"{source}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_contract(path)


@pytest.fixture(scope="module")
def guards(warehouse_url: str, tmp_path_factory) -> dict[str, Contract]:
    folder = tmp_path_factory.mktemp("guard_contracts")
    add_zz_district(warehouse_url)
    return {"a": _contract(folder, "zz_guard_a", "ZA"), "b": _contract(folder, "zz_guard_b", "ZB")}


def _file(folder: Path, name: str, *rows: str) -> Path:
    path = folder / name
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_an_unforeseen_error_becomes_a_recorded_rejection(db, guards, tmp_path, monkeypatch):
    from innovation_pipeline.orchestration import inbox

    def broken(ctx, batch):  # an error no check foresaw, raised while mapping rows
        raise ZeroDivisionError("division by zero in a cell nobody expected\n" + "x" * 5000)

    monkeypatch.setattr(mapping, "map_batch", broken)
    path = _file(tmp_path, "ZA_001_2020-21.csv", "001,5,innovation,3")
    with pytest.raises(FileRejected) as info:
        land_file(guards["a"], path)
    assert info.value.code == "load_failed"
    status, code, message, sub = db.execute(
        "select status, reason_code, message, submission_id from audit.submissions where file_sha256 = %s",
        (file_sha256(path),),
    ).fetchone()
    assert (status, code) == ("rejected", "load_failed")
    assert "ZA_001_2020-21.csv" in message and "ZeroDivisionError" in message and len(message) < 600
    assert (
        db.execute("select count(*) from raw.zz_guard_a where _submission_id = %s", (sub,)).fetchone()[0] == 0
    )
    # Recorded: the DAG does not list it as new again, and a retry is the recorded rejection.
    listed = [{"name": path.name, "sha256": file_sha256(path)}]
    assert inbox.new_files("zz_guard_a", listed, db) == []
    with pytest.raises(FileRejected):
        land_file(guards["a"], path)
    assert (
        db.execute(
            "select count(*) from audit.submissions where file_sha256 = %s", (file_sha256(path),)
        ).fetchone()[0]
        == 1
    )


def test_a_load_does_not_wait_for_a_load_of_another_source(db, guards, tmp_path, warehouse_url, monkeypatch):
    land_file(guards["a"], _file(tmp_path, "ZA_001_2021-22.csv", "001,5,innovation,3"))
    land_file(guards["b"], _file(tmp_path, "ZB_001_2021-22.csv", "001,5,innovation,3"))
    # A load of source a in flight: its transaction has written audit.submissions and holds on.
    holder = psycopg.connect(warehouse_url)
    holder.execute(
        "insert into audit.submissions (source, program, state, file_sha256, file_name, received_at, status)"
        " select 'zz_guard_a', 'zz_guards', 'ZZ', file_sha256, 'in-flight.csv', now(), 'received'"
        " from audit.files limit 1"
    )
    # Give up on any lock after a few seconds rather than hang: before the fix the per-file
    # `create index if not exists` waited on this transaction for as long as it lasted.
    monkeypatch.setenv(
        "WAREHOUSE_URL",
        warehouse_url + ("&" if "?" in warehouse_url else "?") + "options=-c%20lock_timeout%3D5000",
    )
    outcome: dict[str, object] = {}

    def load() -> None:
        try:
            outcome["result"] = land_file(
                guards["b"], _file(tmp_path, "ZB_001_2022-23.csv", "001,5,innovation,4")
            )
        except BaseException as exc:
            outcome["error"] = exc

    try:
        worker = threading.Thread(target=load)
        worker.start()
        worker.join(120)
        assert not worker.is_alive()
    finally:
        holder.rollback()
        holder.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].status == "loaded"  # type: ignore[attr-defined]


def test_links_and_paths_outside_the_inbox_are_refused(tmp_path, monkeypatch):
    from innovation_pipeline.orchestration import inbox

    monkeypatch.setenv("PIPELINE_INBOX_URL", f"file://{tmp_path / 'inbox'}")
    folder = tmp_path / "inbox" / "zz_guard_a"
    folder.mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (folder / "ZA_001_2019-20.csv").symlink_to(outside)
    (folder / "ZA_001_2018-19.csv").symlink_to("/etc/passwd")
    real = folder / "ZA_001_2017-18.csv"
    real.write_text(HEADER + "\r\n001,5,innovation,3\r\n", encoding="utf-8")
    linked_dir = folder / "sub"
    linked_dir.symlink_to(tmp_path)
    assert [f["name"] for f in inbox.list_inbox("zz_guard_a")] == ["ZA_001_2017-18.csv"]
    with pytest.raises(ValueError, match="link"), inbox.local_copy(f"file://{folder / 'ZA_001_2019-20.csv'}"):
        pass


def test_no_pseudonym_key_outside_development_refuses_to_load(db, guards, tmp_path, monkeypatch):
    from innovation_pipeline.settings import SettingsError

    monkeypatch.delenv("STUDENT_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("PIPELINE_ENV", raising=False)
    monkeypatch.setenv("STUDENT_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    path = _file(tmp_path, "ZA_001_2023-24.csv", "001,5,innovation,7")
    with pytest.raises(SettingsError, match="STUDENT_PSEUDONYM_KEY"):
        land_file(guards["a"], path)
    assert not (tmp_path / "key").exists()
    # Nothing recorded: once the key is set, the file loads (it is not a rejected file).
    assert (
        db.execute("select count(*) from audit.submissions where file_name = %s", (path.name,)).fetchone()[0]
        == 0
    )
    monkeypatch.setenv("PIPELINE_ENV", "development")
    assert land_file(guards["a"], path).status == "loaded"
    assert (tmp_path / "key").exists()


def test_a_file_named_for_another_year_does_not_supersede_the_real_one(db, tmp_path, guards):
    contract = _contract(
        tmp_path,
        "zz_guard_years",
        "ZY",
        school_year={"source": "column", "column": "Year"},
    )
    header = "District Number,Year,Grade,Competency,Students Defended"
    real = tmp_path / "ZY_001_2023-24.csv"
    real.write_text(
        f"{header}\r\n001,2023-24,5,innovation,3\r\n001,2023-24,8,innovation,4\r\n", encoding="utf-8"
    )
    first = land_file(contract, real)
    assert (first.school_year, first.rows_loaded) == (2024, 2)
    misnamed = tmp_path / "ZY_001_2016-17.csv"
    misnamed.write_text(
        f"{header}\r\n001,2023-24,5,innovation,9\r\n001,2023-24,8,innovation,9\r\n", encoding="utf-8"
    )
    second = land_file(contract, misnamed)
    assert (second.school_year, second.rows_loaded, second.rows_quarantined, second.superseded) == (
        2017,
        0,
        2,
        [],
    )
    assert (
        db.execute(
            "select status from audit.submissions where submission_id = %s", (first.submission_id,)
        ).fetchone()[0]
        == "loaded"
    )
    messages = [
        r[0]
        for r in db.execute(
            "select message from audit.quarantine where submission_id = %s order by source_row",
            (second.submission_id,),
        )
    ]
    assert messages and all("2023-24 differs from the file's 2016-17" in m for m in messages)


@pytest.mark.parametrize(
    "argv",
    [
        ["load", "{missing}.yml", "{missing}.csv"],
        ["load", "{bad}", "{missing}.csv"],
        ["load", "{invalid}", "{missing}.csv"],
        ["load", "{programs}/ky_local_labs.yml", "{missing}.csv"],
        ["preview", "{missing}.yml", "{missing}.csv"],
        ["preview", "{bad}", "{missing}.csv"],
        ["preview", "{programs}/ky_local_labs.yml", "{missing}.csv"],
        ["check", "{missing}.yml"],
        ["check", "{bad}"],
        ["check", "{programs}/ky_local_labs.yml", "--file", "{missing}.csv"],
    ],
    ids=lambda argv: "-".join(a.split("/")[-1].replace("{", "").replace("}", "") for a in argv),
)
def test_cli_says_what_is_wrong_without_a_traceback(tmp_path, argv):
    import subprocess
    import sys

    bad = tmp_path / "broken.yml"
    bad.write_text("source: broken\nfile: [\n", encoding="utf-8")
    invalid = tmp_path / "invalid.yml"
    invalid.write_text("source: invalid\n", encoding="utf-8")
    names = {
        "missing": str(tmp_path / "nope"),
        "bad": str(bad),
        "invalid": str(invalid),
        "programs": str(Path(__file__).resolve().parents[1] / "programs"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "innovation_pipeline.cli", *(a.format(**names) for a in argv)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-2000:]
    said = out.stdout + out.stderr
    assert "nope" in said or "broken.yml" in said or "invalid.yml" in said


def test_ingest_tasks_have_an_execution_timeout():
    from innovation_pipeline.orchestration.ingest import build_ingest_dag

    contract = load_contract(Path(__file__).resolve().parents[1] / "programs" / "ky_local_labs.yml")
    dag = build_ingest_dag(contract)
    for task in dag.tasks:
        assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > 0, task.task_id
