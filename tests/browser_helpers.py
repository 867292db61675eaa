"""Running Debian's headless Chromium on a page (the ``chromium`` fixture of conftest.py finds it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

#: A page dump or a screenshot is a second or two; a loaded two-core machine can take far longer.
CHROMIUM_TIMEOUT = 300


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a profile of its own, no network chatter, a fixed window."""
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
    return subprocess.run(cmd, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)
