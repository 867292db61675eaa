"""The report rendered by a real headless Chromium (Debian's ``chromium``, installed here if missing).

The page must show a known failing district with its plain-language message once a browser has
parsed and laid it out; screenshots are kept in ``test_artifacts/`` for a human to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import landed  # noqa: F401  (the landed KY submissions, shared with test_report.py)

from innovation_pipeline.dq import build_report

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test_artifacts"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary; installed with apt once per session when it is missing (tests run as root)."""
    found = shutil.which("chromium")
    if not found:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            check=True,
            capture_output=True,
            timeout=900,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        found = shutil.which("chromium")
    assert found, "chromium could not be installed"
    return found


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1800",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_page_shows_the_failing_district_with_its_message(chromium, landed, session_tmp, tmp_path):  # noqa: F811
    index = build_report(session_tmp / "browser_report")
    page = index.parent / "ky_local_labs" / "2025.html"
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the failing district, its failed check in plain words, and a quarantine reason
    section = html[html.index('id="submission-') :]
    assert "Allen County (KY-005)" in section
    assert "This submission has 6 rows; between 7 and 30 were expected" in section
    assert "A value is not one of the allowed choices" in section
    # the formula stayed text: the browser built no link from it
    assert 'href="http://evil' not in html
    # the status grid rendered as SVG with a 'fix' cell for the district's 2024-25 submission
    assert "<svg" in html and "Loaded, with problems to fix" in html

    ARTIFACTS.mkdir(exist_ok=True)
    for name, target in (("report_ky_local_labs_2024-25.png", page), ("report_index.png", index)):
        shot = ARTIFACTS / name
        shot.unlink(missing_ok=True)
        done = _run(chromium, tmp_path / "profile", f"--screenshot={shot}", target.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        assert shot.exists() and shot.stat().st_size > 10_000, f"{shot} is missing or blank"
