"""The product never imports the sample generator (issue 20).

``innovation_samples`` (``samples/``) is a development package: the demo, the tests and the
benchmarks use it, the pipeline does not, so a deployment runs without it. Two checks: importing
every module of ``innovation_pipeline`` leaves it unimported, and no product module names it in
an import, even one inside a function (which importing the module would not run).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import innovation_pipeline

PACKAGE = Path(innovation_pipeline.__file__).resolve().parent
SAMPLES = "innovation_samples"


def _names_samples(name: str | None) -> bool:
    return name is not None and (name == SAMPLES or name.startswith(SAMPLES + "."))


def test_no_product_module_imports_the_sample_package() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str | None] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]  # importlib.import_module("innovation_samples...")
            if any(_names_samples(n) for n in names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")  # type: ignore[attr-defined]
    assert offenders == []


def test_importing_every_product_module_leaves_the_sample_package_unimported() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "import innovation_pipeline\n"
        "names = [m.name for m in pkgutil.walk_packages(innovation_pipeline.__path__, 'innovation_pipeline.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m == {SAMPLES!r} or m.startswith({SAMPLES + '.'!r}))\n"
        "print('imported', len(names), 'loaded', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Airflow and GX log to stdout too: the probe's own line is the last.
    _, count, _, loaded = done.stdout.strip().splitlines()[-1].split(" ", 3)
    assert int(count) > 50, done.stdout[-3000:]  # every module was imported, not a few
    assert loaded == "[]", loaded
