"""``make airflow`` on a first start, as a newcomer meets it (issue 18).

``innovation-pipeline serve`` (what ``make airflow`` runs) is started as a real process from an
environment whose ``PATH`` does not hold the venv, with files already dropped into the inboxes and
an empty metadata database. With no manual step (no unpausing, no triggering), every ingest DAG's
first scheduled run must land its inbox's file, ``build_marts`` must run by itself on their raw
Assets (and ``publish_docs`` after it), and the marts must reflect the landed submissions; no task may have needed a retry. Then
SIGTERM must stop every process the command started, and the console must have said how to log in.

Unit tests of the pure parts (parallelism, settings) are at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow_procs import free_port, scratch_database, survivors_after, tail
from sample_warehouse import SampleInbox

from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.orchestration import local_airflow

ROOT = Path(__file__).resolve().parents[1]
SERVE = str(Path(sys.executable).with_name("innovation-pipeline"))
#: Nine ingest DAGs and two or three marts runs (about 55 tasks each) on two shared cores.
RUN_TIMEOUT = 2700
TEST_TIMEOUT = 3600


def _first_deliveries(samples: Path) -> list[Path]:
    """One loadable 2024 sample of every program, and a 2024 outcome file of every state."""
    manifest = json.loads((samples / "manifest.json").read_text(encoding="utf-8"))
    picked: dict[tuple[str, str], Path] = {}
    for entry in sorted(manifest["files"], key=lambda e: e["path"]):
        if entry["expected_status"] != "loaded" or entry["school_year"] != 2024:
            continue
        key = (entry["source"], entry["submitter"][:2] if entry["source"] == "state_outcomes" else "")
        picked.setdefault(key, samples / entry["path"])
    return list(picked.values())


def _query(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen[str], logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"serve exited ({proc.returncode}) while waiting for {what}:\n{tail(logs / 'scheduler.log')}"
            )
        value = check()
        if value:
            return value
        time.sleep(5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{tail(logs / 'scheduler.log')}")


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_a_first_start_lands_the_inboxes_and_builds_the_marts_by_itself(
    warehouse_url: str, sample_inbox: SampleInbox, tmp_path: Path
) -> None:
    inbox = tmp_path / "data" / "inbox"
    files = _first_deliveries(sample_inbox.folder)
    for path in files:
        (inbox / path.parent.name).mkdir(parents=True, exist_ok=True)
        (inbox / path.parent.name / path.name).write_bytes(path.read_bytes())
    home = tmp_path / "airflow"
    port = free_port()
    with (
        scratch_database(warehouse_url, "first_start_meta") as meta,
        scratch_database(warehouse_url, "first_start_wh") as wh,
    ):
        venv_bin = str(Path(sys.executable).parent)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "PIPELINE", "WAREHOUSE", "DBT"))
        }
        env.update(
            {
                # A plain shell: the venv is not activated.
                "PATH": os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin),
                "PIPELINE_HOME": str(ROOT),
                "AIRFLOW_HOME": str(home),
                "PIPELINE_DATA_DIR": str(tmp_path / "data"),
                "PIPELINE_OUTPUT_DIR": str(tmp_path / "output"),
                "STUDENT_PSEUDONYM_KEY": os.environ["STUDENT_PSEUDONYM_KEY"],
                "WAREHOUSE_URL": wh.url(),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta.url("postgresql+psycopg2"),
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__COSMOS__CACHE_DIR": str(tmp_path / "cosmos_cache"),
                # Retries after seconds: a retry must show in the check below, not stall the test.
                "PIPELINE_RETRY_DELAY_SECONDS": "10",
            }
        )
        console = tmp_path / "console.log"
        with console.open("w") as out:
            proc = subprocess.Popen(
                [SERVE, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
            )
        logs = home / "logs"
        pids: list[int] = []
        try:
            _wait("the UI", lambda: "log in as admin" in console.read_text(), 900, proc, logs)

            ingest = {f"ingest_{p.parent.name}" for p in files}

            def settled() -> Any:
                # Every ingest DAG ran, nothing runs or waits, and no Asset event is still queued:
                # the last marts run then saw every landed file.
                ran = {r[0] for r in _query(meta.url(), "select distinct dag_id from dag_run")}
                busy = _query(
                    meta.url(),
                    "select count(*) from dag_run where state in ('queued', 'running')"
                    " union all select count(*) from asset_dag_run_queue",
                )
                marts = {"build_marts", "publish_docs"}
                return ingest | marts <= ran and all(n == 0 for (n,) in busy)

            _wait("every DAG to have run and the marts to be built", settled, RUN_TIMEOUT, proc, logs)
            last = _query(
                meta.url(), "select state from dag_run where dag_id = 'build_marts' order by id desc limit 1"
            )
            assert last[0][0] == "success", _task_states(meta.url())
            docs = _query(
                meta.url(), "select state from dag_run where dag_id = 'publish_docs' order by id desc limit 1"
            )
            assert docs[0][0] == "success", _task_states(meta.url())
            import psutil

            pids = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            loaded = _query(
                wh.url(),
                "select source, file_name, status from audit.submissions order by source, file_name",
            )
            assert sorted((s, n) for s, n, st in loaded if st == "loaded") == sorted(
                (p.parent.name, p.name) for p in files
            ), loaded
            # Every landed submission is in the marts: each program file's in the participation
            # mart, each outcome file's in the outcomes mart (as the rows' latest submission).
            contracts = load_contracts()
            landed = _query(
                wh.url(), "select source, submission_id from audit.submissions where status = 'loaded'"
            )
            in_marts = {
                kind: {
                    r[0] for r in _query(wh.url(), f"select distinct last_submission_id from marts.{table}")
                }
                for kind, table in (
                    ("program", "fct_program_participation"),
                    ("outcomes", "fct_district_outcomes"),
                )
            }
            missing = [(src, sid) for src, sid in landed if sid not in in_marts[contracts[src].kind]]
            assert not missing, f"landed but not in the marts: {missing}"
            programs = {
                r[0]
                for r in _query(wh.url(), "select distinct program_id from marts.fct_program_participation")
            }
            dropped = [contracts[p.parent.name] for p in files]
            assert programs == {c.program for c in dropped if c.kind == "program"}
            # Nothing needed a manual step or a second try (list_new_files used to be retried).
            retried = _query(
                meta.url(),
                "select dag_id, task_id, map_index, try_number from task_instance where try_number > 1",
            )
            assert not retried, f"tasks retried:\n{retried}\n{_task_states(meta.url())}"
            paused = _query(meta.url(), "select dag_id from dag where is_paused")
            assert not paused
            text = console.read_text()
            assert "password" in text and str(home / "simple_auth_manager_passwords.json.generated") in text
            assert "Traceback" not in text
            assert "already registered" not in (logs / "api-server.log").read_text()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    pytest.fail("serve did not stop within 120 s of SIGTERM")
        assert proc.returncode == 0, tail(console)
        left = survivors_after(pids)
        assert not left, f"processes outlived serve: {left}"
        assert "[airflow] stopped" in console.read_text()


def _task_states(meta_url: str) -> str:
    rows = _query(
        meta_url,
        "select dag_id, task_id, map_index, state, try_number from task_instance"
        " where state is distinct from 'success' order by dag_id, task_id",
    )
    return "\n".join(map(str, rows))


def test_parallelism_is_one_task_per_core_and_at_least_two() -> None:
    assert local_airflow.parallelism(1) == 2
    assert local_airflow.parallelism(2) == 2
    assert local_airflow.parallelism(8) == 8


def test_the_callers_settings_win_and_secrets_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "5")
    first = local_airflow.local_environment(tmp_path, 8123)
    assert "AIRFLOW__CORE__PARALLELISM" not in first
    assert first["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert first["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8123/execution/"
    # A task's supervisor looks for its task's end at least once a second (Airflow's default: 5 s).
    assert first["AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"] == "1"
    again = local_airflow.local_environment(tmp_path, 8123)
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == first["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_the_components_run_the_venvs_airflow() -> None:
    assert Path(local_airflow.airflow_binary()).parent == Path(sys.executable).parent


def test_the_scheduler_forks_its_tasks_with_cosmos_dbt_and_gx_imported() -> None:
    """The scheduler (whose forks run the LocalExecutor's tasks) and the DAG processor start
    through ``preloaded_airflow``, which imports the task modules before Airflow runs."""
    for name in local_airflow.PRELOADED_COMPONENTS:
        assert local_airflow.component_command(name)[1:] == [
            "-m",
            "innovation_pipeline.orchestration.preloaded_airflow",
            name,
        ]
    assert local_airflow.component_command("api-server") == [local_airflow.airflow_binary(), "api-server"]
    # The module runs Airflow's own command line (here `airflow version`) after the imports.
    probe = (
        "import atexit, sys\n"
        "wanted = ('great_expectations', 'cosmos.operators.local', 'dbt.cli.main',"
        " 'innovation_pipeline.dq.airflow_plugin')\n"
        "atexit.register(lambda: print('PRELOADED', *[m for m in wanted if m in sys.modules]))\n"
        "sys.argv = ['preloaded_airflow', 'version']\n"
        "from innovation_pipeline.orchestration import preloaded_airflow\n"
        "preloaded_airflow.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.strip().startswith("3.") for line in lines), done.stdout  # Airflow's version
    preloaded = "great_expectations cosmos.operators.local dbt.cli.main innovation_pipeline.dq.airflow_plugin"
    assert f"PRELOADED {preloaded}" in lines, done.stdout
