"""Folders and settings shared by the CLI, the DAGs and the tests, each overridable by environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from innovation_pipeline.warehouse import export_environment, project_root


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).resolve() if value else default


def data_dir() -> Path:
    """Inbox and archive live here unless configured otherwise (``PIPELINE_DATA_DIR``)."""
    return _path("PIPELINE_DATA_DIR", project_root() / ".data")


def inbox_url() -> str:
    """Base of the inboxes, one folder per source; any fsspec URL (``s3://...``) in production."""
    return os.environ.get("PIPELINE_INBOX_URL") or f"file://{data_dir() / 'inbox'}"


def archive_dir() -> Path:
    """Where every received file is kept unchanged, addressed by its SHA-256."""
    return _path("PIPELINE_ARCHIVE_DIR", data_dir() / "archive")


def output_dir() -> Path:
    """Where the report, the dbt catalog and GX Data Docs are written."""
    return _path("PIPELINE_OUTPUT_DIR", project_root() / "output")


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"


class SettingsError(RuntimeError):
    """A setting the pipeline cannot run without, explained for the person who deploys it."""


def is_development() -> bool:
    """Whether this is a development install (``PIPELINE_ENV=development``: ``make`` sets it)."""
    return os.environ.get("PIPELINE_ENV", "").strip().lower() in ("development", "dev", "test")


def pseudonym_key() -> bytes:
    """The HMAC key for student pseudonyms: ``STUDENT_PSEUDONYM_KEY``.

    A development install without it gets a local key file (under ``.warehouse/``, never
    committed) that keeps pseudonyms stable across its runs. Anywhere else an unset key is an
    error: a key made up per machine gives the same student different pseudonyms on different
    workers, and distinct counts silently go wrong.
    """
    value = os.environ.get("STUDENT_PSEUDONYM_KEY")
    if value:
        return value.encode("utf-8")
    if not is_development():
        raise SettingsError(
            "STUDENT_PSEUDONYM_KEY is not set. Set it to the same secret on every machine that loads"
            " files (keep it stable: pseudonyms depend on it), or set PIPELINE_ENV=development on a"
            " development install to use a local key file."
        )
    key_file = _path("STUDENT_PSEUDONYM_KEY_FILE", project_root() / ".warehouse" / "pseudonym.key")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def airflow_environment() -> dict[str, str]:
    """Environment for Airflow processes: project folders, the warehouse connection, Cosmos."""
    root = project_root()
    home = Path(os.environ.get("AIRFLOW_HOME") or root / ".airflow")
    env = {
        "PIPELINE_HOME": str(root),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "DBT_PROFILES_DIR": str(dbt_project_dir()),
    }
    if os.environ.get("PIPELINE_ENV"):
        env["PIPELINE_ENV"] = os.environ["PIPELINE_ENV"]
    env.update(export_environment())
    return env
