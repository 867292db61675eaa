"""The Kentucky submissions the report tests land: a clean year, a defective late year, a rejected
file, a duplicate, and a file superseded by its correction (test_report, test_report_browser)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from innovation_pipeline.contracts import load_contract
from innovation_pipeline.dq import validate_landing

ROOT = Path(__file__).resolve().parents[1]
KY = ROOT / "programs" / "ky_local_labs.yml"
COMPETENCIES = ["Resiliency", "Cultural Competency", "Innovation", "Communication", "Collaboration"]
HEADER = "District Number,Grade,Competency,Students Eligible,Students Defended,Students Proficient\n"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def ky_file(folder: Path, name: str, rows: list[str]) -> Path:
    path = folder / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def clean_rows(district: str) -> list[str]:
    return [f"{district},{g},{c},40,30,20" for g in (5, 8, 12) for c in COMPETENCIES]


def land_report_submissions(folder: Path) -> dict[str, int]:
    """Land the KY files into the warehouse ``WAREHOUSE_URL`` points at and validate the loaded
    ones with GX; returns the submission ids by role (clean, defective, superseded, corrected)."""
    from innovation_pipeline.landing import FileRejected, land_file

    contract = load_contract(KY)
    on_time = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)
    late = dt.datetime(2025, 8, 20, 12, tzinfo=dt.UTC)
    ids = {}
    ids["clean"] = land_file(
        contract, ky_file(folder, "KY_LLL_005_2023-24.csv", clean_rows("005")), received_at=on_time
    ).submission_id
    bad_rows = [
        *clean_rows("005")[:6],
        "005,7,Resiliency,40,30,20",  # grade 7: not allowed (quarantined)
        f'005,8,Innovation,"{FORMULA.replace(chr(34), chr(34) * 2)}",30,20',  # formula text in a count
        "005,5,Resiliency,41,31,21",  # repeats grade 5 + resiliency (quarantined)
    ]
    ids["defective"] = land_file(
        contract, ky_file(folder, "KY_LLL_005_2024-25.csv", bad_rows), received_at=late
    ).submission_id
    rejected = folder / "KY_LLL_008_2024-25.csv"
    rejected.write_text("District Number,Grade\n008,5\n", encoding="utf-8")  # missing required columns
    with pytest.raises(FileRejected):
        land_file(contract, rejected, received_at=late)
    dup = folder / "copy"
    dup.mkdir()
    again = dup / "KY_LLL_005_2023-24.csv"
    again.write_bytes((folder / "KY_LLL_005_2023-24.csv").read_bytes())
    land_file(contract, again, original_name="KY_LLL_005_2023-24_resent.csv", received_at=on_time)
    # Barbourville sends a file with a bad row, then the corrected file: the first is superseded.
    first = [*clean_rows("016")[:14], "016,7,Resiliency,40,30,20"]
    ids["superseded"] = land_file(
        contract, ky_file(folder, "KY_LLL_016_2024-25_v1.csv", first), received_at=on_time
    ).submission_id
    ids["corrected"] = land_file(
        contract, ky_file(folder, "KY_LLL_016_2024-25_v2.csv", clean_rows("016")), received_at=late
    ).submission_id
    validate_landing(contract, [ids["clean"], ids["defective"], ids["corrected"]])
    return ids
