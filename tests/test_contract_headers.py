"""Header shapes: a merged group header above the column header is joined into unambiguous
names (``file.header_rows``), and a header cell that matches only after folding case, spaces and
line breaks is reported by ``preview`` and ``check --file``."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
from contract_helpers import write_contract

from innovation_pipeline.contract_check import check_contract
from innovation_pipeline.landing import land_file
from innovation_pipeline.preview import preview

GROUPS = ["All Students", "Economically Disadvantaged"]
ROWS = [
    ("0010", 812, 160, "0.861", 71, "0.775"),
    ("0020", 4021, 900, "0.902", "<10", "*"),
    ("0030", 950, 201, "0.788", 88, "0.69"),
]
CONTRACT = {
    "source": "zz_grad_groups",
    "title": "Graduation by group",
    "state": "CO",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "a district's graduation cohort",
    "submitter": "state",
    "due": {"month": 12, "day": 31},
    "file": {"pattern": r"^grad_(?P<school_year>\d{4}-\d{2})\.xlsx$", "format": "excel", "header_rows": 2},
    "district": {"scheme": "state_code", "column": "District Code", "width": 4},
    "fields": [
        {"name": "total_students", "source": "Total Students", "type": "integer"},
        {"name": "all_cohort", "source": "All Students Cohort", "type": "integer", "suppressible": True},
        {"name": "all_rate", "source": "All Students Rate", "type": "rate", "suppressible": True},
        {
            "name": "ecd_cohort",
            "source": "Economically Disadvantaged Cohort",
            "type": "integer",
            "suppressible": True,
        },
        {
            "name": "ecd_rate",
            "source": "Economically Disadvantaged Rate",
            "type": "rate",
            "suppressible": True,
        },
    ],
    "natural_key": ["district_id"],
}


def workbook(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Four-year graduation by student group, 2023-24"])
    ws.append([None, None, GROUPS[0], None, GROUPS[1], None])
    ws.merge_cells("C2:D2")
    ws.merge_cells("E2:F2")
    ws.append(["District Code", "Total\nStudents", "Cohort", "Rate", "Cohort", "Rate"])
    for row in ROWS:
        ws.append(list(row))
    wb.save(path)
    return path


def test_group_headers_are_joined_and_loose_matches_reported(db, tmp_path):
    contract = write_contract(tmp_path, CONTRACT)
    path = workbook(tmp_path / "grad_2023-24.xlsx")
    text = preview(contract, path)
    assert "header on row 3" in text
    assert "'Total\\nStudents' taken for 'Total Students'" in text
    notes: list[str] = []
    assert check_contract(contract, path, notes) == []
    assert any("'Total\\nStudents' taken for 'Total Students'" in n for n in notes)

    result = land_file(contract, path)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (len(ROWS), len(ROWS), 0)
    got = db.execute(
        "select sum(total_students), sum(all_cohort), sum(all_rate), sum(ecd_cohort), count(ecd_cohort__marker)"
        " from raw.zz_grad_groups where _submission_id = %s",
        (result.submission_id,),
    ).fetchone()
    numeric = [r for r in ROWS if isinstance(r[4], int)]
    assert got == (
        sum(r[1] for r in ROWS),
        sum(r[2] for r in ROWS),
        sum(Decimal(r[3]) for r in ROWS),
        sum(r[4] for r in numeric),
        len(ROWS) - len(numeric),
    )
