"""The report inside Airflow: the plugin registers through its entry point, serves the report (and
the analysts' dbt docs) only to logged-in users, and never serves files outside the report, Data
Docs and dbt docs folders."""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import pytest
from fastapi.testclient import TestClient

from innovation_pipeline import settings


@pytest.fixture()
def report_files():
    report = settings.output_dir() / "report"
    report.mkdir(parents=True, exist_ok=True)
    (report / "index.html").write_text("<h1>Data-quality report: all programs</h1>", encoding="utf-8")
    (report / "ky_local_labs").mkdir(exist_ok=True)
    (report / "ky_local_labs" / "2024.html").write_text("<p>Allen County</p>", encoding="utf-8")
    (settings.output_dir() / "secret.txt").write_text("not for officers", encoding="utf-8")
    docs = settings.output_dir() / "dbt_docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text(
        "<title>dbt Docs</title><p>cross_state_program_comparison</p>", encoding="utf-8"
    )
    return report


def test_entry_point_registers_the_plugin():
    names = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert (
        names.get("innovation_dq_report") == "innovation_pipeline.dq.airflow_plugin:DataQualityReportPlugin"
    )


def test_airflow_loads_the_fastapi_app_and_the_nav_link():
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    ours = [a for a in apps if a.get("url_prefix") == "/dq-report"]
    assert len(ours) == 1 and ours[0]["name"] == "Data-quality report"
    views, _ = plugins_manager._get_ui_plugins()
    view = next(v for v in views if v.get("url_route") == "dq-report")
    assert view["destination"] == "nav" and not view["href"].startswith("/")
    docs = next(v for v in views if v.get("url_route") == "dbt-docs")
    assert docs["href"] == "dq-report/dbt_docs/index.html" and docs["destination"] == "nav"


def test_the_report_needs_an_airflow_login(report_files):
    from innovation_pipeline.dq.airflow_plugin import create_app

    client = TestClient(create_app())
    response = client.get("/report/index.html")
    assert response.status_code == 401
    assert "Data-quality report" not in response.text


def test_the_report_is_served_to_a_logged_in_user(report_files):
    from innovation_pipeline.dq.airflow_plugin import create_app

    # The login dependency is replaced by none: what is tested here is the serving.
    client = TestClient(create_app(dependencies=[]))
    home = client.get("/", follow_redirects=False)
    assert home.status_code in (302, 307) and home.headers["location"] == "report/index.html"
    page = client.get("/report/index.html")
    assert page.status_code == 200 and "all programs" in page.text
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert "Allen County" in client.get("/report/ky_local_labs/2024.html").text
    assert client.get("/report/").status_code == 200
    for bad in ("/report/../secret.txt", "/report/%2e%2e/secret.txt", "/secret.txt/x", "/report/nope.html"):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not for officers" not in response.text


def test_a_missing_report_says_how_to_build_it(tmp_path, monkeypatch):
    from innovation_pipeline.dq.airflow_plugin import create_app

    monkeypatch.setenv("PIPELINE_OUTPUT_DIR", str(tmp_path / "empty"))
    response = TestClient(create_app(dependencies=[])).get("/report/index.html")
    assert response.status_code == 404 and "has not been built yet" in response.text
    docs = TestClient(create_app(dependencies=[])).get("/dbt_docs/index.html")
    assert docs.status_code == 404 and "dbt docs have not been built yet" in docs.text


def test_the_dbt_docs_are_served_to_a_logged_in_user(report_files):
    from innovation_pipeline.dq.airflow_plugin import create_app

    assert TestClient(create_app()).get("/dbt_docs/index.html").status_code == 401
    client = TestClient(create_app(dependencies=[]))
    page = client.get("/dbt_docs/index.html")
    assert page.status_code == 200 and "cross_state_program_comparison" in page.text
    assert client.get("/dbt_docs/").status_code == 200
    for bad in ("/dbt_docs/../secret.txt", "/dbt_docs/%2e%2e/secret.txt", "/dbt_docs/nope.html"):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not for officers" not in response.text


def test_airflow_registers_the_plugin_once_without_import_errors():
    """What the UI's "Plugin Import Error" banner shows: Airflow's own plugin loading, in a fresh
    process with the project's plugins folder on sys.path (where a second copy of the package's
    metadata, e.g. an egg-info built there, registers the plugin twice)."""
    import json
    import subprocess
    import sys

    from innovation_pipeline.warehouse import project_root

    probe = (
        "import json\n"
        "from airflow import plugins_manager as pm\n"
        "plugins, errors = pm._get_plugins()\n"
        "print(json.dumps({'names': [p.name for p in plugins], 'errors': errors}))\n"
    )
    env = {
        **os.environ,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project_root() / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    assert loaded["names"].count("innovation_dq_report") == 1
    assert not list((project_root() / "plugins").glob("*.egg-info")), "package metadata in plugins/"


@pytest.mark.parametrize(
    "path",
    [
        "/report/a%00b.html",
        "/report/%00",
        "/report/" + "x" * 300 + ".html",
        "/report/" + "y" * 300 + "/index.html",
        "/data_docs/" + "z" * 5000,
        "/report/ky_local_labs/2024.html%00.png",
    ],
    ids=["nul", "nul-alone", "300-char-segment", "300-char-folder", "5000-char-segment", "nul-before-suffix"],
)
def test_a_hostile_path_is_a_client_error_not_a_server_error(report_files, path):
    from innovation_pipeline.dq.airflow_plugin import create_app

    client = TestClient(create_app(dependencies=[]), raise_server_exceptions=False)
    response = client.get(path)
    assert response.status_code in (400, 404), (path[:60], response.status_code)
    assert "not for officers" not in response.text and "Traceback" not in response.text
