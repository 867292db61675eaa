"""dbt's docs site as one file that opens offline: from a file path, from the Airflow plugin, anywhere.

dbt's ``index.html`` fetches ``manifest.json`` and ``catalog.json`` at load time, which a browser
refuses for a page opened from a file (the page stays on "(loading)"), and it carries a Snowplow
tracker that loads a script from a CDN. The page written here has both JSON documents inline (what
``dbt docs generate --static`` does), the tracker switched off, and a Content-Security-Policy that
lets it load nothing from outside the file.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# dbt's placeholders for the inline documents (dbt/task/docs/generate.py, the --static branch).
MANIFEST_PLACEHOLDER = '"MANIFEST.JSON INLINE DATA"'
CATALOG_PLACEHOLDER = '"CATALOG.JSON INLINE DATA"'
# Everything the page needs is in the file (scripts, styles, fonts as data: URLs): nothing else may load.
OFFLINE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; frame-src 'none'"
)
# The tracker starts when the manifest says so (``!0===e.track&&r.turn_on_tracking()``) and injects
# ``//<cdn>/sp.js``; both are neutralized even if the manifest allowed tracking.
_TRACKING_CALL = re.compile(r"!0===(\w+)\.track&&(\w+)\.turn_on_tracking\(\)")
_TRACKER_SCRIPT = re.compile(r'"(?:https?:)?//[^"]*/sp\.js"')


def _inline_json(path: Path, *, no_tracking: bool = False) -> str:
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if no_tracking and isinstance(data.get("metadata"), dict):
        data["metadata"]["send_anonymous_usage_stats"] = False
    # "</" inside a <script> would end it (a description with "</script>"); "<\/" is the same JSON.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def offline_page(target: Path) -> str:
    """The self-contained docs page built from dbt's ``target`` folder (index, manifest, catalog)."""
    page = (target / "index.html").read_text(encoding="utf-8")
    if MANIFEST_PLACEHOLDER not in page:
        raise RuntimeError(f"{target / 'index.html'} is not dbt's docs page (no inline-data placeholder)")
    # Replacement functions, so backslashes in the JSON are not read as regex escapes.
    page = page.replace(MANIFEST_PLACEHOLDER, _inline_json(target / "manifest.json", no_tracking=True), 1)
    page = page.replace(CATALOG_PLACEHOLDER, _inline_json(target / "catalog.json"), 1)
    page = _TRACKING_CALL.sub(lambda _m: "!1", page)
    page = _TRACKER_SCRIPT.sub(lambda _m: '""', page)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{OFFLINE_CSP}">'
    return re.sub(r"<head>", lambda _m: "<head>" + meta, page, count=1, flags=re.IGNORECASE)


def publish(target: Path, out: Path) -> Path:
    """Write the offline docs page to ``out/index.html`` (with the JSON beside it, for tools)."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(offline_page(target), encoding="utf-8")
    tmp.replace(index)  # a reader never sees half a page
    for name in ("manifest.json", "catalog.json"):
        if (target / name).exists():
            shutil.copy2(target / name, out / name)
    log.info("dbt docs written to %s (one self-contained page)", index)
    return index
