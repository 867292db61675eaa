"""The command line as a data engineer meets it (issue 18): one-line errors that name the file or the
setting instead of tracebacks, a non-zero exit for every failure, help text on every argument, a
second load of the same file that says nothing changed, ``warehouse url`` that psql can use, and
``innovation-pipeline dbt`` running dbt on the project from any folder."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sample_warehouse import SampleInbox

from innovation_pipeline.cli import build_parser, main
from innovation_pipeline.warehouse import parse_url

ROOT = Path(__file__).resolve().parents[1]
KY = str(ROOT / "programs" / "ky_local_labs.yml")
CLI = str(Path(sys.executable).with_name("innovation-pipeline"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _actions(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{prefix}{name} ")
        elif not isinstance(action, argparse._HelpAction):
            found.append(
                (prefix + (action.option_strings[-1] if action.option_strings else action.dest), action)
            )
    return found


def test_every_argument_has_help_text() -> None:
    missing = [name for name, action in _actions(build_parser()) if not action.help]
    assert not missing, f"arguments without help: {missing}"


def test_preview_of_a_missing_file_says_so_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "preview", KY, "KY_LLL_005_2024-25.csv")
    assert code != 0
    assert "no such file: KY_LLL_005_2024-25.csv" in err
    assert "empty" not in out + err and "Traceback" not in err


@pytest.mark.parametrize("command", ["preview", "load"])
def test_a_missing_contract_is_one_line(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, command, "programs/nope.yml", KY)
    assert code == 1 and err.strip() == f"innovation-pipeline {command}: no such file: programs/nope.yml"


def test_a_yaml_error_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.yml"
    bad.write_text("source: x\n  title: [unclosed\n", encoding="utf-8")
    sample = tmp_path / "x.csv"
    sample.write_text("a\n1\n", encoding="utf-8")
    code, _, err = _run(capsys, "preview", str(bad), str(sample))
    assert code == 1 and "broken.yml" in err and "YAML" in err
    assert "Traceback" not in err


def test_an_unwritable_output_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "KY_LLL_005_2024-25.csv"
    sample.write_text("district,year\n005,2024\n", encoding="utf-8")
    target = tmp_path / "no" / "such" / "folder" / "new.yml"
    code, _, err = _run(capsys, "draft", str(sample), "--out", str(target))
    assert code == 1 and str(target) in err and "Traceback" not in err


def test_a_bad_state_role_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["access", "--state-role", "Colorado"])
    assert exit_.value.code == 2
    assert "two-letter state code" in capsys.readouterr().err


def test_warehouse_url_prints_what_psql_needs_and_start_masks_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://loader:p%40ss@127.0.0.1:1/innovation")
    code, out, _ = _run(capsys, "warehouse", "url")
    assert code == 0
    printed = parse_url(out.strip())
    assert (printed.user, printed.password, printed.port, printed.dbname) == (
        "loader",
        "p@ss",
        1,
        "innovation",
    )
    # Nothing listens on port 1: start must try to connect and say it could not, password masked.
    code, out, err = _run(capsys, "warehouse", "start")
    assert code == 1 and "ready" not in out
    assert "cannot reach the warehouse" in err and "***" in err and "p%40ss" not in err


def test_warehouse_start_connects_before_it_says_ready(
    warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "warehouse", "start")
    assert code == 0 and out.startswith("warehouse ready (PostgreSQL ")


def test_loading_the_same_file_again_says_nothing_changed(
    warehouse_url: str, sample_inbox: SampleInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = sample_inbox.manifest
    entry = next(
        e for e in manifest["files"] if e["source"] == "ky_local_labs" and e["expected_status"] == "loaded"
    )
    file = str(sample_inbox.folder / entry["path"])
    code, first, _ = _run(capsys, "load", KY, file)
    assert code == 0 and " loaded " in first
    code, again, _ = _run(capsys, "load", KY, file)
    assert code == 0 and "nothing changed" in again and " loaded " not in again


def test_dbt_runs_on_the_project_from_any_folder(warehouse_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "WAREHOUSE_URL": warehouse_url}
    env.pop("DBT_PROFILES_DIR", None)
    env.pop("DBT_PROJECT_DIR", None)
    done = subprocess.run(
        [CLI, "dbt", "debug"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "All checks passed" in done.stdout
    assert str(ROOT / "dbt_project") in done.stdout
