"""A state-scoped Airflow user sees only its states' data-quality report.

Files of two states (Kentucky, and the real Colorado file) are landed by the real loader and
validated by real GX; the report is built statewide and for a Kentucky officer. The plugin is
asked through Airflow's own login (a JWT from Airflow's auth manager, read by Airflow's own
``get_user``), so the user a request names is the user whose scope is applied.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from innovation_pipeline import settings
from innovation_pipeline.access import ensure_roles, report_scopes, set_report_scope
from innovation_pipeline.contracts import load_contract
from innovation_pipeline.dq import build_report, validate_landing

ROOT = Path(__file__).resolve().parents[1]
COMPETENCIES = ["Resiliency", "Cultural Competency", "Innovation", "Communication", "Collaboration"]
KY_HEADER = "District Number,Grade,Competency,Students Eligible,Students Defended,Students Proficient\n"
# Words only the Colorado submission puts on a page.
CO_MARKERS = ("co_cde_2022-2023", "Chronic", "Colorado")


@pytest.fixture(scope="module")
def warehouse_url(isolated_warehouse_url: str) -> str:
    return isolated_warehouse_url


@pytest.fixture(scope="module")
def landed(
    warehouse_url: str, tmp_path_factory: pytest.TempPathFactory, real_co_file: Path
) -> dict[str, int]:
    """A Kentucky file with a quarantined row, and the real Colorado file, both validated."""
    from innovation_pipeline.landing import land_file

    folder = tmp_path_factory.mktemp("scopes")
    ky = load_contract(ROOT / "programs" / "ky_local_labs.yml")
    rows = [f"005,{g},{c},40,30,20" for g in (5, 8, 12) for c in COMPETENCIES] + ["005,7,Resiliency,40,30,20"]
    ky_file = folder / "KY_LLL_005_2023-24.csv"
    ky_file.write_text(KY_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    on_time = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)
    ky_id = land_file(ky, ky_file, received_at=on_time).submission_id
    co = load_contract(ROOT / "programs" / "co_chronic_absenteeism.yml")
    co_id = land_file(co, real_co_file, received_at=on_time).submission_id
    validate_landing(ky, [ky_id])
    validate_landing(co, [co_id])
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_roles(conn)
        assert conn.execute(
            "select count(*) from audit.submissions where submission_id = any(%s) and status = 'loaded'",
            ([ky_id, co_id],),
        ).fetchone() == (2,)
    return {"KY": ky_id, "CO": co_id}


@pytest.fixture(scope="module")
def reports(landed: dict[str, int], warehouse_url: str) -> dict[str, Path]:
    """The statewide report and, for the Kentucky officer, the Kentucky one (one build_report)."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        set_report_scope(conn, "officer_ky", ["KY"])
    build_report()
    from innovation_pipeline.dq.report import scoped_report_dir

    return {"all": settings.output_dir() / "report", "KY": scoped_report_dir(frozenset({"KY"}))}


def every_text(folder: Path) -> str:
    """Every page and download of a report, as one text."""
    return "\n".join(p.read_text(encoding="utf-8-sig") for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_scoped_report_holds_only_its_states_submissions(reports, landed):
    statewide, scoped = every_text(reports["all"]), every_text(reports["KY"])
    # The statewide report has both states: the markers below are really on its pages.
    for marker in CO_MARKERS:
        assert marker in statewide, marker
    assert "KY_LLL_005_2023-24.csv" in statewide
    for marker in CO_MARKERS:
        assert marker not in scoped, marker
    assert "KY_LLL_005_2023-24.csv" in scoped and "Allen County" in scoped
    assert f"submission-{landed['CO']}" not in scoped
    index = (reports["KY"] / "index.html").read_text(encoding="utf-8")
    assert "Data-quality report: KY" in index and 'id="scope"' in index
    # Neither Data Docs (every state's results) nor the marts' checks (all states) are on its pages.
    assert "Data Docs" not in index and 'id="marts"' not in index
    # Its quarantine download is there, and is Kentucky's.
    downloads = list(reports["KY"].rglob("downloads/*.csv"))
    assert downloads and all("KY_LLL_005" in p.read_text(encoding="utf-8-sig") for p in downloads)
    # The checks page lists Kentucky's landing checks only.
    checks = (reports["KY"] / "checks.html").read_text(encoding="utf-8")
    assert "KY_LLL_005_2023-24.csv" in checks and "co_cde_2022-2023" not in checks


def test_a_removed_scope_removes_its_report(reports, warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        set_report_scope(conn, "officer_nd", ["ND"])
        assert report_scopes(conn)["officer_nd"] == frozenset({"ND"})
        build_report()
        from innovation_pipeline.dq.report import scoped_report_dir

        nd = scoped_report_dir(frozenset({"ND"}))
        assert (nd / "index.html").exists() and "KY_LLL_005" not in every_text(nd)
        set_report_scope(conn, "officer_nd", [])
        assert "officer_nd" not in report_scopes(conn)
        build_report()
        assert not nd.exists()
        assert (reports["KY"] / "index.html").exists()


def test_a_scope_takes_state_codes_only(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_roles(conn)
        for bad in (["Kentucky"], ["ky"], ["../"]):
            with pytest.raises(ValueError):
                set_report_scope(conn, "someone", bad)
        with pytest.raises(ValueError):
            set_report_scope(conn, " ", ["KY"])


# --- through Airflow's login -------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_client(reports, warehouse_url: str):
    """Airflow's auth manager (the simple one, with two users) in front of the report app, as the
    API server mounts it; a client and a token maker."""
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "officer_ky:viewer,admin:admin",
        "AIRFLOW__API_AUTH__JWT_SECRET": "report-scope-test-secret",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # The token check reads Airflow's metadata database (revoked tokens).
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "db", "migrate"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from innovation_pipeline.dq.airflow_plugin import URL_PREFIX, create_app

    purge_cached_app()
    parent = FastAPI()
    parent.mount(URL_PREFIX, create_app())
    manager = init_auth_manager(parent)

    def token(user: str, role: str) -> dict[str, str]:
        jwt = manager.generate_jwt(SimpleAuthManagerUser(username=user, role=role))
        return {"Authorization": f"Bearer {jwt}"}

    yield TestClient(parent, raise_server_exceptions=False), token
    purge_cached_app()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_plugin_serves_a_scoped_user_its_states_report(airflow_client, reports):
    client, token = airflow_client
    ky = token("officer_ky", "viewer")
    page = client.get("/dq-report/report/index.html", headers=ky)
    assert page.status_code == 200 and "Data-quality report: KY" in page.text
    for marker in CO_MARKERS:
        assert marker not in page.text
    # Every page it asks for comes from its own report, by the same addresses as the statewide one.
    assert client.get("/dq-report/report/checks.html", headers=ky).status_code == 200
    admin = client.get("/dq-report/report/index.html", headers=token("admin", "admin"))
    assert admin.status_code == 200 and "Colorado" in admin.text
    assert client.get("/dq-report/report/index.html").status_code == 401


def test_a_scoped_user_cannot_reach_the_statewide_report_or_data_docs(airflow_client, reports):
    client, token = airflow_client
    ky = token("officer_ky", "viewer")
    docs = settings.output_dir() / "data_docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text("<p>every state's results: co_cde_2022-2023</p>", encoding="utf-8")
    refused = client.get("/dq-report/data_docs/index.html", headers=ky)
    assert refused.status_code == 403 and "KY only" in refused.text and "co_cde" not in refused.text
    assert client.get("/dq-report/data_docs/index.html", headers=token("admin", "admin")).status_code == 200
    for path in (
        "/dq-report/report/%2e%2e/%2e%2e/report/index.html",
        "/dq-report/report/..%2f..%2freport%2findex.html",
        "/dq-report/report_scoped/KY/index.html",
        "/dq-report/report/../CO/index.html",
    ):
        response = client.get(path, headers=ky)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert "co_cde_2022-2023" not in response.text


def test_a_scope_applies_at_once_and_a_missing_scoped_report_is_not_the_statewide_one(
    airflow_client, reports, warehouse_url
):
    client, token = airflow_client
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        set_report_scope(conn, "admin", ["UT"])  # no report built for UT yet
        try:
            page = client.get("/dq-report/report/index.html", headers=token("admin", "admin"))
            assert page.status_code == 404 and "has not been built yet" in page.text
            assert "co_cde_2022-2023" not in page.text
        finally:
            set_report_scope(conn, "admin", [])
    assert "Colorado" in client.get("/dq-report/report/index.html", headers=token("admin", "admin")).text


def test_an_unreadable_scope_serves_nothing(airflow_client, monkeypatch):
    client, token = airflow_client
    # A warehouse nobody serves: the scope cannot be read, so not even an unscoped user is served.
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    page = client.get("/dq-report/report/index.html", headers=token("admin", "admin"))
    assert page.status_code == 503 and "co_cde" not in page.text and "could not be read" in page.text


def test_the_cli_sets_and_removes_a_report_scope(warehouse_url):
    cli = str(Path(sys.executable).with_name("innovation-pipeline"))
    env = {**os.environ, "WAREHOUSE_URL": warehouse_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, "access", *args], env=env, capture_output=True, text=True, timeout=600)

    done = run("--report-viewer", "officer_wa=wa,UT")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'officer_wa' sees the data-quality report of UT, WA only" in done.stdout
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert report_scopes(conn)["officer_wa"] == frozenset({"UT", "WA"})
    refused = run("--report-viewer", "officer_wa=Washington")
    assert refused.returncode == 2 and "two-letter state code" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run("--report-viewer", "officer_wa=").returncode == 0
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert "officer_wa" not in report_scopes(conn)
