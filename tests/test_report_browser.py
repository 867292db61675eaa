"""The report rendered by a real headless Chromium (Debian's ``chromium``; `make browser` installs it).

The page must show a known failing district with its plain-language message once a browser has
parsed and laid it out; every visible text must meet WCAG 2.1 AA contrast as the browser computes
the colours; the status grid must read as a table (row and column headers, a status in words,
a link to the submission). Screenshots are kept outside the checkout, in ``TEST_ARTIFACTS_DIR``
(default: ``innovation-test-artifacts`` in the system's temporary folder), for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from browser_helpers import run_chromium
from ky_report_files import land_report_submissions

from innovation_pipeline.dq import build_report

pytestmark = pytest.mark.slow

ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS_DIR") or Path(tempfile.gettempdir()) / "innovation-test-artifacts"
)


@pytest.fixture(scope="module")
def warehouse_url(isolated_warehouse_url: str) -> str:
    """The report is built from this module's KY submissions only."""
    return isolated_warehouse_url


@pytest.fixture(scope="module")
def landed(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The KY submissions test_report lands too (tests/ky_report_files.py)."""
    return land_report_submissions(tmp_path_factory.mktemp("ky"))


def test_page_shows_the_failing_district_with_its_message(chromium, landed, session_tmp, tmp_path):
    index = build_report(session_tmp / "browser_report")
    page = index.parent / "ky_local_labs" / "2025.html"
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the failing district, its failed check in plain words, and a quarantine reason
    section = html[html.index('id="submission-') :]
    assert "Allen County (KY-005)" in section
    assert "This submission has 6 rows; between 7 and 30 were expected" in section
    assert "A value is not one of the allowed choices" in section
    # the formula stayed text: the browser built no link from it
    assert 'href="http://evil' not in html
    # the status grid rendered as a table with a 'fix' cell for the district's 2024-25 submission
    assert 'class="status-grid"' in html and "Loaded, with problems to fix" in html

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, target in (("report_ky_local_labs_2024-25.png", page), ("report_index.png", index)):
        shot = ARTIFACTS / name
        shot.unlink(missing_ok=True)
        done = run_chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", target.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        assert shot.exists() and shot.stat().st_size > 10_000, f"{shot} is missing or blank"


# Run in the page once the browser has laid it out: every visible text's colour against the
# background it is drawn on (the nearest ancestor with an opaque background), from computed
# styles; and each status-grid link as a screen reader announces it (row header, column header,
# the link's text including visually hidden words).
PROBE = """
<script>
(function () {
  function rgb(c) {
    var m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    var p = m[1].split(",").map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  }
  function lum(c) {
    var w = [0.2126, 0.7152, 0.0722];
    return [c.r, c.g, c.b].reduce(function (s, v, i) {
      v /= 255;
      return s + w[i] * (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    }, 0);
  }
  function background(el) {
    for (var e = el; e; e = e.parentElement) {
      var c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  }
  var texts = [], seen = new Set(), walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), n;
  while ((n = walker.nextNode())) {
    var el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || el.closest("script, style")) continue;
    seen.add(el);
    var box = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || cs.visibility === "hidden") continue;  // not drawn
    var fg = rgb(cs.color), bg = background(el), a = lum(fg), b = lum(bg);
    texts.push({text: n.textContent.trim().slice(0, 50), tag: el.tagName, cls: String(el.className),
                color: cs.color, background: getComputedStyle(el).backgroundColor,
                ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
  }
  var cells = [];
  document.querySelectorAll("table.status-grid").forEach(function (table) {
    var heads = Array.from(table.querySelectorAll("thead th")).map(function (th) { return th.textContent.trim(); });
    table.querySelectorAll("tbody td").forEach(function (td) {
      var row = td.parentElement, index = Array.from(row.children).indexOf(td), link = td.querySelector("a");
      var rowHead = row.querySelector("th[scope=row]");
      cells.push({program: table.dataset.program, row: rowHead ? rowHead.textContent.trim() : null,
                  column: heads[index] || null, status: td.dataset.status,
                  name: td.textContent.replace(/\\s+/g, " ").trim(),
                  href: link ? link.getAttribute("href") : null});
    });
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({texts: texts, cells: cells});
  document.body.appendChild(out);
})();
</script>
"""


def probe(chromium: str, page: Path, profile: Path) -> dict:
    """Load a copy of ``page`` (same folder) with PROBE appended and return what it measured."""
    copy = page.with_name(f"_probe_{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        dom = run_chromium(chromium, profile, "--dump-dom", copy.as_uri())
    finally:
        copy.unlink()
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, "the probe did not run"
    import html as htmllib

    return json.loads(htmllib.unescape(found.group(1)))


@pytest.fixture(scope="module")
def report_pages(landed, session_tmp):
    index = build_report(session_tmp / "browser_a11y_report")
    return [index, index.parent / "ky_local_labs" / "2025.html", index.parent / "checks.html"]


def test_every_text_meets_wcag_aa_contrast(chromium, report_pages, tmp_path):
    statuses_seen = set()
    for page in report_pages:
        measured = probe(chromium, page, tmp_path / "profile")
        texts = measured["texts"]
        assert len(texts) > 20, f"{page.name}: the probe found almost no text"
        low = [t for t in texts if t["ratio"] < 4.5]
        assert not low, f"{page.name}: below 4.5:1:\n" + "\n".join(
            f"{t['ratio']:.2f} {t['color']} on {t['background']} <{t['tag']} class={t['cls']}> {t['text']!r}"
            for t in low
        )
        statuses_seen |= {c["status"] for c in measured["cells"]}
        # the coloured labels were measured, not skipped
        assert any(t["cls"].startswith("tag") for t in texts), page.name
    # the grid's coloured cells (white text on each status colour) were among the measured texts
    assert {"ok", "late", "problems", "rejected"} <= statuses_seen


def test_status_grid_reads_as_a_table_with_links_to_each_submission(chromium, report_pages, tmp_path):
    index, year_page = report_pages[0], report_pages[1]
    for page in (index, year_page):
        cells = [
            c for c in probe(chromium, page, tmp_path / "profile")["cells"] if c["program"] == "ky_local_labs"
        ]
        assert cells, f"{page.name}: no status table for KY"
        for cell in cells:
            # a screen reader announces "<district>, <school year>: <status in words>"
            assert cell["row"] and re.fullmatch(r"\d{4}-\d{2}", cell["column"] or ""), cell
            if cell["status"] == "none":
                assert cell["href"] is None and "Nothing received" in cell["name"]
                continue
            assert cell["href"], cell
            target, fragment = cell["href"].split("#")
            assert f'id="{fragment}"' in (page.parent / target).read_text(encoding="utf-8"), cell
        allen = next(c for c in cells if c["row"] == "Allen County (KY-005)" and c["column"] == "2024-25")
        assert allen["status"] == "problems" and "Loaded, with problems to fix" in allen["name"]
        assert "late" in allen["name"]
