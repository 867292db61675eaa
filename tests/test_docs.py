"""The analysts' documentation where they look: in the database (table, column and schema comments,
the suppression reason codes), in types they expect, and as dbt docs that open offline from a file.

The marts come from the session's one real ``dbt build`` of the landed samples (``sample_warehouse``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from browser_helpers import run_chromium
from sample_warehouse import SampleWarehouse as Warehouse

from innovation_pipeline.orchestration import dbt_docs

ROOT = Path(__file__).resolve().parents[1]
MARTS_YML = ROOT / "dbt_project" / "models" / "marts" / "_marts.yml"
SUPPRESSION_MACRO = ROOT / "dbt_project" / "macros" / "suppression.sql"
# The contract's data types as GX names them for PostgreSQL columns.
GX_TYPE = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "pg_catalog.numeric": "NUMERIC",
    "text": "TEXT",
    "boolean": "BOOLEAN",
}


@pytest.fixture(scope="module")
def warehouse_url(sample_warehouse_url: str) -> str:
    return sample_warehouse_url


@pytest.fixture(scope="module")
def warehouse(sample_warehouse: Warehouse, warehouse_url: str) -> Warehouse:
    return sample_warehouse


COUNT_COLUMNS = {
    "fct_program_participation": ["count_behind"],
    "fct_district_outcomes": ["count_behind"],
    "cross_state_program_comparison": ["participating_count", "non_participating_count"],
}
VALUE_COLUMNS = {
    "fct_program_participation": ["value", "value_lower", "value_upper"],
    "fct_district_outcomes": ["value", "value_lower", "value_upper"],
    "cross_state_program_comparison": [
        "participating_value",
        "non_participating_value",
        "participating_minus_non_participating",
    ],
}


def _words(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def mart_docs() -> dict[str, dict]:
    return {m["name"]: m for m in yaml.safe_load(MARTS_YML.read_text(encoding="utf-8"))["models"]}


def built_docs(warehouse: Warehouse) -> dict[str, dict]:
    """The marts' descriptions as dbt rendered them ({{ doc() }} blocks expanded) in the build."""
    manifest = json.loads((warehouse.work / "target" / "manifest.json").read_text(encoding="utf-8"))
    built = {}
    for name in mart_docs():
        node = manifest["nodes"][f"model.innovation_warehouse.{name}"]
        columns = [{"name": c, "description": v.get("description", "")} for c, v in node["columns"].items()]
        built[name] = {"description": node["description"], "columns": columns}
    return built


def test_every_mart_and_column_carries_its_description_in_the_database(warehouse: Warehouse) -> None:
    missing = []
    docs = built_docs(warehouse)
    assert "measure_catalog" not in str(docs) and "| `students_participating` |" in str(docs)
    for name, model in docs.items():
        table = warehouse.rows("select obj_description(%s::regclass, 'pg_class')", (f"marts.{name}",))[0][0]
        if _words(table) != _words(model["description"]):
            missing.append(f"marts.{name}: {table!r}")
        comments = dict(
            warehouse.rows(
                "select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a"
                " where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped",
                (f"marts.{name}",),
            )
        )
        for column in model["columns"]:
            if _words(comments.get(column["name"])) != _words(column["description"]):
                missing.append(f"marts.{name}.{column['name']}: {comments.get(column['name'])!r}")
    assert not missing, "\n".join(missing)


def test_the_warehouse_schemas_are_described(warehouse: Warehouse) -> None:
    described = dict(
        warehouse.rows(
            "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace"
            " where nspname in ('marts', 'seeds', 'staging', 'intermediate')"
        )
    )
    assert set(described) == {"marts", "seeds", "staging", "intermediate"}
    assert all(described.values()), described
    assert "suppression_reasons" in described["marts"] and "Not for analysis" in described["intermediate"]


def test_every_suppression_reason_is_explained_in_a_mart(warehouse: Warehouse) -> None:
    explained = dict(warehouse.rows("select suppression_reason, explanation from marts.suppression_reasons"))
    assert all(len(text) > 40 for text in explained.values()), explained
    # every code the suppression macro can write ...
    written = set(re.findall(r"then '([a-z_]+)'", SUPPRESSION_MACRO.read_text(encoding="utf-8")))
    assert len(written) >= 7 and written <= set(explained), written - set(explained)
    # ... and every code the built marts hold
    used = {
        r[0]
        for r in warehouse.rows(
            "select suppression_reason from marts.fct_program_participation"
            " union select suppression_reason from marts.fct_district_outcomes"
            " union select participating_suppression_reason from marts.cross_state_program_comparison"
            " union select non_participating_suppression_reason from marts.cross_state_program_comparison"
        )
        if r[0]
    }
    assert {"below_threshold", "complementary", "suppressed_at_source"} <= used <= set(explained)
    # analysts can read it (the marts' post-hook grants it)
    grants = warehouse.rows(
        "select count(*) from information_schema.role_table_grants"
        " where table_schema = 'marts' and table_name = 'suppression_reasons' and privilege_type = 'SELECT'"
        " and grantee <> current_user"
    )
    assert grants[0][0] >= 1


def test_counts_are_integers_and_values_have_their_measures_scale(warehouse: Warehouse) -> None:
    types = dict(
        ((t, c), d)
        for t, c, d in warehouse.rows(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = 'marts'"
        )
    )
    for table, columns in COUNT_COLUMNS.items():
        assert all(types[(table, c)] == "bigint" for c in columns), table
    for table, columns in VALUE_COLUMNS.items():
        assert all(types[(table, c)] == "numeric" for c in columns), table
    for table in ("fct_program_participation", "fct_district_outcomes"):
        scales = warehouse.rows(
            f"select m.value_type, array_agg(distinct scale(f.value)) from marts.{table} f"
            " join marts.dim_measure m using (measure_id) where f.value is not null group by 1"
        )
        by_type = dict(scales)
        assert by_type.get("count") == [0], (table, by_type)
        assert set(by_type) >= {"count", "rate"}
        assert by_type["rate"] == [4], (table, by_type)
        if "amount" in by_type:
            assert by_type["amount"] == [2], (table, by_type)
    # what psql prints: a count without decimals, a rate with four
    enrollment = warehouse.rows(
        "select participating_value::text, participating_count::text from marts.cross_state_program_comparison"
        " where measure_id = 'enrollment' and participating_value is not null limit 1"
    )[0]
    assert re.fullmatch(r"\d+", enrollment[0]) and re.fullmatch(r"\d+", enrollment[1]), enrollment
    rate = warehouse.rows(
        "select participating_value::text from marts.cross_state_program_comparison"
        " where measure_id = 'chronic_absenteeism_rate' and participating_value is not null limit 1"
    )[0][0]
    assert re.fullmatch(r"0\.\d{4}|1\.0000", rate), rate


def test_gx_mart_type_checks_agree_with_the_dbt_contracts() -> None:
    docs = mart_docs()
    checked = 0
    for path in sorted((ROOT / "expectations" / "marts").glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        model = docs[suite["meta"]["table"]]
        declared = {c["name"]: c["data_type"] for c in model["columns"]}
        for e in suite["expectations"]:
            if e["type"] == "expect_column_values_to_be_in_type_list":
                column = e["kwargs"]["column"]
                assert e["kwargs"]["type_list"] == [GX_TYPE[declared[column]]], (path.name, column)
                checked += 1
    for table, columns in {**COUNT_COLUMNS, **VALUE_COLUMNS}.items():
        suite = json.loads((ROOT / "expectations" / "marts" / f"{table}.json").read_text(encoding="utf-8"))
        typed = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"].endswith("_in_type_list")}
        assert set(columns) <= typed, (table, set(columns) - typed)
    assert checked >= 20


@pytest.fixture(scope="module")
def docs_page(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    generated = warehouse.dbt("docs", "generate")
    assert generated.returncode == 0, generated.output[-3000:]
    return dbt_docs.publish(warehouse.work / "target", tmp_path_factory.mktemp("dbt_docs"))


def test_dbt_docs_are_one_file_with_our_overview_and_no_tracker(docs_page: Path) -> None:
    html = docs_page.read_text(encoding="utf-8")
    assert dbt_docs.MANIFEST_PLACEHOLDER not in html and dbt_docs.CATALOG_PLACEHOLDER not in html
    assert "Innovation pipeline: cross-state marts" in html  # the __overview__ docs block
    assert "sp.js" not in html and "turn_on_tracking()" not in html.replace("turn_on_tracking:function()", "")
    assert 'http-equiv="Content-Security-Policy"' in html and "connect-src 'none'" in html
    # nothing is fetched: no script, stylesheet or image from another host
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["'](https?:)?//""", html)


def test_dbt_docs_render_from_a_file_in_a_browser(docs_page: Path, chromium: str, tmp_path: Path) -> None:
    try:
        dom = run_chromium(
            chromium,
            tmp_path / "profile",
            "--virtual-time-budget=15000",
            # no network at all: a request to any host fails
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--dump-dom",
            docs_page.as_uri() + "#!/overview",
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            "the docs page never finished loading (a page that cannot read its manifest keeps trying)"
        )
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout))
    # the overview is rendered from the inline manifest (a page that could not read it stays on "(loading)")
    assert "Innovation pipeline: cross-state marts" in text and "Where to start" in text
    assert "cross_state_program_comparison" in text


def test_tracking_is_off_even_when_the_manifest_allows_it(tmp_path: Path) -> None:
    import dbt.task.docs

    target = tmp_path / "target"
    target.mkdir()
    (target / "index.html").write_bytes((Path(dbt.task.docs.__file__).parent / "index.html").read_bytes())
    manifest = {
        "metadata": {"send_anonymous_usage_stats": True, "project_id": "x"},
        "nodes": {"a": "</script>"},
    }
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (target / "catalog.json").write_text("{}", encoding="utf-8")
    page = dbt_docs.offline_page(target)
    assert "//d1fc8wv8zag5ca.cloudfront.net" not in page and not re.search(
        r"\.track&&\w+\.turn_on_tracking\(\)", page
    )
    assert '"send_anonymous_usage_stats":false' in page
    # a description holding "</script>" cannot end the inline script
    assert "<\\/script>" in page and '"a":"</script>"' not in page


def test_dbt_docs_written_by_the_marts_dag_callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dbt.task.docs

    from innovation_pipeline.orchestration.dbt_project import publish_docs

    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    (project / "target" / "index.html").write_bytes(
        (Path(dbt.task.docs.__file__).parent / "index.html").read_bytes()
    )
    for name in ("manifest.json", "catalog.json"):
        (project / "target" / name).write_text('{"metadata": {}}', encoding="utf-8")
    monkeypatch.setenv("PIPELINE_OUTPUT_DIR", str(tmp_path / "out"))
    publish_docs(str(project))
    out = tmp_path / "out" / "dbt_docs"
    assert (out / "catalog.json").exists() and (out / "manifest.json").exists()
    assert dbt_docs.MANIFEST_PLACEHOLDER not in (out / "index.html").read_text(encoding="utf-8")
