"""The dbt project as Cosmos sees it: profile, manifest and the configs of the task group.

Load mode: ``LoadMode.DBT_MANIFEST``. Parsing the marts DAG then reads a ``manifest.json`` and
never runs dbt. The manifest is made by ``dbt parse`` (which reads the project and opens no
connection) into a cache folder keyed by a hash of the project's files, so a changed model or test
gives a new manifest by itself: ``make demo``, the tests and ``innovation-pipeline airflow`` call
:func:`ensure_manifest` first, and a DAG processor that meets a changed project runs ``dbt parse``
once (a few seconds) and then reads the cached file again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from innovation_pipeline import settings

log = logging.getLogger(__name__)

#: What dbt reads to build its graph; target/, logs/ and dbt_packages/ are outputs and not hashed.
_PROJECT_DIRS = ("models", "seeds", "macros", "tests", "snapshots", "analyses")
_PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")
#: ``dbt parse`` reads the profile but does not connect; these stand in for unset variables.
_PARSE_ONLY_ENV = {
    "WAREHOUSE_HOST": "localhost",
    "WAREHOUSE_PORT": "5432",
    "WAREHOUSE_USER": "dbt",
    "WAREHOUSE_PASSWORD": "",
    "WAREHOUSE_DB": "warehouse",
}


class DbtProjectMissing(RuntimeError):
    """The dbt project (``dbt_project/dbt_project.yml``) is not there."""


def project_dir() -> Path:
    """The dbt project folder."""
    path = settings.dbt_project_dir()
    if not (path / "dbt_project.yml").exists():
        raise DbtProjectMissing(f"no dbt project at {path} (dbt_project.yml is missing)")
    return path


def profiles_path() -> Path:
    """``dbt_project/profiles.yml``: it reads the warehouse from ``WAREHOUSE_*`` variables."""
    return project_dir() / "profiles.yml"


def profile_name() -> str:
    """The profile the project asks for in ``dbt_project.yml``."""
    data = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    return str(data.get("profile") or data.get("name"))


def target_name() -> str:
    """``PIPELINE_DBT_TARGET``, else the profile's default target."""
    env = os.environ.get("PIPELINE_DBT_TARGET")
    if env:
        return env
    profiles = yaml.safe_load(profiles_path().read_text(encoding="utf-8")) or {}
    return str((profiles.get(profile_name()) or {}).get("target") or "dev")


def project_fingerprint(path: Path | None = None) -> str:
    """A hash of every file dbt reads to build its graph."""
    path = path or project_dir()
    digest = hashlib.sha256()
    files = [path / name for name in _PROJECT_FILES if (path / name).is_file()]
    for folder in _PROJECT_DIRS:
        if (path / folder).is_dir():
            files.extend(p for p in (path / folder).rglob("*") if p.is_file())
    for file in sorted(files):
        digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Cosmos's cache folder (``AIRFLOW__COSMOS__CACHE_DIR``), which also holds the manifests."""
    env = os.environ.get("AIRFLOW__COSMOS__CACHE_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "cosmos"


def manifest_path() -> Path:
    """Where the manifest of the project as it is now lives (it may not be made yet)."""
    return cache_dir() / "dbt_manifest" / project_fingerprint() / "manifest.json"


def dbt_executable() -> str:
    """The ``dbt`` beside this Python (the project venv), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise FileNotFoundError("dbt is not installed in this environment")
    return found


def parse_env() -> dict[str, str]:
    """Environment for ``dbt parse``: this one, with stand-ins for unset warehouse variables."""
    env = dict(os.environ)
    for key, value in _PARSE_ONLY_ENV.items():
        env.setdefault(key, value)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env["DBT_PROFILES_DIR"] = str(project_dir())
    return env


def ensure_manifest() -> Path:
    """The manifest of the current project, made with ``dbt parse`` if it is not cached yet.

    The models generated from the contracts are synced first, so a contract added or changed is in
    the manifest (and the marts DAG) without another step.
    """
    from innovation_pipeline.dbt_codegen import sync_project

    sync_project()
    target = manifest_path()
    if target.exists():
        return target
    project = project_dir()
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    # Parse into a private folder and move it into place, so that two processes parsing at once
    # never read a half-written manifest.
    work = Path(tempfile.mkdtemp(prefix="parse-", dir=target.parent.parent))
    try:
        cmd = [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--quiet",
        ]
        done = subprocess.run(cmd, env=parse_env(), capture_output=True, text=True, timeout=600, check=False)
        made = work / "target" / "manifest.json"
        if done.returncode != 0 or not made.exists():
            raise RuntimeError(f"dbt parse failed ({done.returncode}):\n{done.stdout}\n{done.stderr}".strip())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(made, target)
        log.info("dbt manifest written to %s", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def publish_docs(project_dir: str, **_: Any) -> None:
    """Cosmos callback of the docs task: write the docs to the output folder as one offline page."""
    from innovation_pipeline.orchestration import dbt_docs

    dbt_docs.publish(Path(project_dir) / "target", settings.output_dir() / "dbt_docs")
