"""Wide files: one column per school year, unpivoted; each year its own submission, and a column
added next year loads without a contract edit."""

from __future__ import annotations

from decimal import Decimal

from contract_helpers import write_contract

from innovation_pipeline.landing import land_file
from innovation_pipeline.preview import preview

CONTRACT = {
    "source": "zz_wide_grad",
    "title": "Graduation rate by year (wide)",
    "state": "CO",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "a district's four-year graduation rate in one school year",
    "submitter": "state",
    "due": {"month": 12, "day": 31},
    "file": {"pattern": r"^grad_history_v\d+\.csv$", "format": "csv"},
    "district": {"scheme": "state_code", "column": "District Code", "width": 4},
    "school_year": {"source": "header", "min_year": 1990},
    "fields": [
        {"name": "district_name", "source": "District Name", "type": "text", "required": False},
        {
            "name": "graduation_rate",
            "source": {"pattern": r"Graduation Rate (\d{4}-\d{2})"},
            "type": "rate",
            "format": "percent",
            "required": False,
            "suppressible": True,
        },
    ],
    "natural_key": ["district_id"],
}
DISTRICTS = [("0010", "Mapleton 1"), ("0020", "Adams 12 Five Star Schools"), ("0030", "Adams County 14")]


def wide_file(folder, name: str, years: list[str], cells: list[list[str]]):
    path = folder / name
    header = ["District Code", "District Name", *[f"Graduation Rate {y}" for y in years]]
    lines = [",".join(header)] + [
        ",".join([c, n, *row]) for (c, n), row in zip(DISTRICTS, cells, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_year(db, source: str) -> dict[int, list]:
    rows = db.execute(
        "select r.school_year, r.district_id, r.graduation_rate::text, r.graduation_rate__marker"
        " from raw.zz_wide_grad r join audit.submissions s on s.submission_id = r._submission_id"
        " where s.status = 'loaded' order by 1, 2"
    ).fetchall()
    out: dict[int, list] = {}
    for year, district, rate, marker in rows:
        out.setdefault(year, []).append((district, rate, marker))
    return out


def test_each_year_column_lands_as_its_own_submission(db, tmp_path):
    contract = write_contract(tmp_path, CONTRACT)
    years = ["2021-22", "2022-23", "2023-24"]
    cells = [["84.2", "85", "86.1"], ["77", "<10", "79.5"], ["90", "91", ""]]
    first = wide_file(tmp_path, "grad_history_v1.csv", years, cells)
    text = preview(contract, first)
    assert "A load would record: 9 rows received, 9 loaded, 0 quarantined" in text
    result = land_file(contract, first)
    assert (result.rows_received, result.rows_loaded, result.school_year) == (9, 9, 2024)
    landed = by_year(db, "zz_wide_grad")
    assert sorted(landed) == [2022, 2023, 2024]
    for i, year in enumerate([2022, 2023, 2024]):
        expected = []
        for (code, _), row in zip(DISTRICTS, cells, strict=True):
            value = row[i]
            rate = str(Decimal(value) / 100) if value and value[0].isdigit() else None
            expected.append((f"CO-{code}", rate, value if value.startswith("<") else None))
        assert landed[year] == expected

    # Next year's file adds a 2024-25 column and corrects 2023-24: no contract edit.
    years2 = [*years, "2024-25"]
    cells2 = [[*row[:2], "86.5", "88"] for row in cells]
    second = land_file(contract, wide_file(tmp_path, "grad_history_v2.csv", years2, cells2))
    assert second.school_year == 2025 and len(second.superseded) == 3
    landed = by_year(db, "zz_wide_grad")
    assert sorted(landed) == [2022, 2023, 2024, 2025]
    assert [r[1] for r in landed[2024]] == ["0.865"] * 3
    assert [r[1] for r in landed[2025]] == ["0.88"] * 3
