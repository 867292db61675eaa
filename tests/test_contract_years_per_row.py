"""Several school years in one file (``school_year.several``): the real KIDS COUNT extract holds
2003 to 2009; each year lands as its own submission, supersedes independently, and ``preview``
prints the counts ``load`` records."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from contract_helpers import use_real_directory, write_contract
from real_file_contracts import KIDSCOUNT_CONTRACT as CONTRACT

from innovation_pipeline.landing import land_file
from innovation_pipeline.parsing import normalize_name
from innovation_pipeline.preview import preview

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
KY_FILE = SHARED_REAL / "ky_kidscount_hs_graduation_rates_2003-2009.csv"
CCD = SHARED_REAL / "nces_ccd_lea_directory_2024-25_7states.csv"

ABBREVIATIONS = {" County": " Co.", " Independent": " Ind."}


@pytest.fixture(scope="module")
def url(isolated_warehouse_url):
    """The real directory, with KIDS COUNT's spellings ('Adair Co.', 'Anchorage Ind.') as aliases:
    the edit a data engineer makes in programs/reference/district_aliases.csv."""
    use_real_directory(isolated_warehouse_url, CCD)
    with psycopg.connect(isolated_warehouse_url, autocommit=True) as conn:
        rows = conn.execute("select district_id, name from ref.districts where state = 'KY'").fetchall()
        aliases = []
        for district_id, name in rows:
            for full, short in ABBREVIATIONS.items():
                if name.endswith(full):
                    alias = name[: -len(full)] + short
                    aliases.append((district_id, alias, normalize_name(alias)))
        conn.cursor().executemany(
            "insert into ref.district_aliases (district_id, state, alias, alias_normalized)"
            " values (%s, 'KY', %s, %s) on conflict do nothing",
            aliases,
        )
    return isolated_warehouse_url


def known_names(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        names = {
            normalize_name(r[0]) for r in conn.execute("select name from ref.districts where state = 'KY'")
        }
        names |= {
            r[0] for r in conn.execute("select alias_normalized from ref.district_aliases where state = 'KY'")
        }
    return names


def file_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_each_year_is_its_own_submission(url, tmp_path):
    contract = write_contract(tmp_path, CONTRACT)
    rows = file_rows(KY_FILE)
    numbers = [r for r in rows if r["DataFormat"] == "Number"]
    names = known_names(url)
    years = sorted({int(r["TimeFrame"]) for r in numbers})

    text = preview(contract, KY_FILE)
    result = land_file(contract, KY_FILE)
    assert result.status == "loaded" and result.school_year == years[-1]
    assert result.rows_received == len(numbers)
    assert result.rows_skipped == len(rows) - len(numbers)
    counts = re.search(
        r"A load would record: (\d+) rows received, (\d+) loaded, (\d+) quarantined, (\d+) skipped", text
    )
    assert counts and tuple(map(int, counts.groups())) == (
        result.rows_received,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_skipped,
    )

    with psycopg.connect(url) as conn:
        subs = conn.execute(
            "select school_year, rows_received, rows_loaded, status from audit.submissions"
            " where source = 'ky_kidscount_grad_years' order by school_year"
        ).fetchall()
        landed = dict(
            conn.execute(
                "select school_year, sum(graduates) from raw.ky_kidscount_grad_years r"
                " where row_kind = 'state_total' group by 1"
            ).fetchall()
        )
    per_year = Counter(int(r["TimeFrame"]) for r in numbers)
    state = {int(r["TimeFrame"]): int(r["Data"]) for r in numbers if r["LocationType"] == "State"}
    district_rows = [r for r in numbers if r["LocationType"] != "State"]
    loaded = Counter(int(r["TimeFrame"]) for r in district_rows if normalize_name(r["Location"]) in names)
    assert [(y, rec, status) for y, rec, _, status in subs] == [(y, per_year[y], "loaded") for y in years]
    assert [(y, lo) for y, _, lo, _ in subs] == [(y, loaded[y] + 1) for y in years]
    assert landed == state
    assert sum(loaded.values()) > 0.9 * len(district_rows)


def test_a_corrected_year_supersedes_only_that_year(url, tmp_path):
    contract = write_contract(tmp_path, {**CONTRACT, "source": "ky_kidscount_fix"})
    first = land_file(contract, KY_FILE)
    header, *lines = KY_FILE.read_text(encoding="utf-8").splitlines()
    fixed = tmp_path / "ky_kidscount_hs_graduation_rates_2009-fix.csv"
    fixed.write_text("\n".join([header, *[ln for ln in lines if ",2009," in ln]]) + "\n", encoding="utf-8")
    second = land_file(contract, fixed)
    assert second.school_year == 2009 and len(second.superseded) == 1
    assert second.superseded == [first.submission_id]  # the 2009 part of the first file
    with psycopg.connect(url) as conn:
        statuses = conn.execute(
            "select school_year, status from audit.submissions where source = 'ky_kidscount_fix'"
            " and file_name = %s order by school_year",
            (KY_FILE.name,),
        ).fetchall()
    assert statuses[-1] == (2009, "superseded")
    assert {s for y, s in statuses[:-1]} == {"loaded"}
    # A retry of the first delivery is a no-op: nothing lands twice.
    copy = tmp_path / KY_FILE.name
    shutil.copy(KY_FILE, copy)
    again = land_file(contract, copy)
    assert again.submission_id == first.submission_id


def test_the_file_name_year_is_the_latest_a_row_may_carry(url, tmp_path):
    """A salary file named for 2023-24 holding three years: a row dated after the file's year,
    and one whose year cannot be read, are quarantined with the latest year's submission."""
    data = {
        **CONTRACT,
        "source": "zz_salary_years",
        "state": "CO",
        "rows": {},
        "file": {"pattern": r"^salaries_(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
        "district": {"scheme": "state_code", "column": "District Code", "width": 4},
        "school_year": {"source": "column", "column": "Year", "several": True},
        "fields": [{"name": "salary", "source": "Average Salary", "type": "money"}],
    }
    contract = write_contract(tmp_path, data)
    lines = [
        ("0010", "2021-22", "$51,234.50"),
        ("0020", "2021-22", "$48,000"),
        ("0010", "2022-23", "$52,000.25"),
        ("0010", "2023-24", "$53,100"),
        ("0020", "2023-24", "$49,900"),
        ("0010", "2024-25", "$54,000"),  # later than the file's year
        ("0020", "next year", "$50,000"),  # not a year
    ]
    path = tmp_path / "salaries_2023-24.csv"
    path.write_text(
        "District Code,Year,Average Salary\n" + "".join(f'{c},{y},"{s}"\n' for c, y, s in lines),
        encoding="utf-8",
    )
    result = land_file(contract, path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (7, 5, 2)
    db = psycopg.connect(url, autocommit=True)
    subs = db.execute(
        "select school_year, rows_received, rows_loaded, rows_quarantined from audit.submissions"
        " where source = 'zz_salary_years' order by school_year"
    ).fetchall()
    assert subs == [(2022, 2, 2, 0), (2023, 1, 1, 0), (2024, 4, 2, 2)]
    reasons = db.execute(
        "select source_row, reason_code from audit.quarantine where source = 'zz_salary_years' order by 1"
    ).fetchall()
    assert reasons == [(7, "bad_school_year"), (8, "bad_school_year")]
    total = db.execute("select sum(salary)::text from raw.zz_salary_years").fetchone()[0]
    assert total == "254234.75"
    db.close()
