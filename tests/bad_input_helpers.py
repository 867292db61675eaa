"""The contract the hostile-input tests land their files through (corpus, guards, properties)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml

from innovation_pipeline.contracts import Contract, load_contract
from innovation_pipeline.landing import ensure_landing_schema

HEADER = "District Number,Grade,Competency,Students Defended,Note,Amount,Ratio,Day"
FIELDS = [
    {"name": "grade", "source": "Grade", "type": "category", "allowed": ["5", "8", "12"]},
    {
        "name": "competency",
        "source": "Competency",
        "type": "category",
        "allowed": ["resiliency", "innovation"],
    },
    {"name": "students_defended", "source": "Students Defended", "type": "integer", "min": 0},
    {"name": "note", "source": "Note", "type": "text", "required": False},
    {"name": "amount", "source": "Amount", "type": "money", "required": False},
    {"name": "ratio", "source": "Ratio", "type": "number", "required": False},
    {"name": "day", "source": "Day", "type": "date", "required": False},
]
PATTERN = r"^ZZ_(?P<submitter>\d{3})_(?P<school_year>\d{4}-\d{2})(_.*)?\.%s$"
CONTRACT = {
    "title": "Hostile input corpus",
    "state": "ZZ",
    "program": "zz_corpus",
    "entity": "a district's defenses of one competency at one grade",
    "submitter": "district",
    "due": {"month": 7, "day": 15},
    "district": {"scheme": "state_code", "column": "District Number", "width": 3, "role": "submitter"},
    "fields": FIELDS,
    "natural_key": ["grade", "competency"],
}


def _contract(folder: Path, source: str, fmt: str, ext: str, **changes) -> Contract:
    data = {**CONTRACT, "source": source, "file": {"pattern": PATTERN % ext, "format": fmt}, **changes}
    if fmt == "excel":
        data["file"]["sheet"] = "Data"
    path = folder / f"{source}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_contract(path)


def add_zz_district(warehouse_url: str) -> None:
    """The landing schema, and district ZZ-001 the hostile files name: the same row as
    test_landing.py's ZZ directory, since the session shares one ref.districts."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_landing_schema(conn)
        conn.execute(
            "insert into ref.districts (district_id, state, state_code, nces_lea_id, name)"
            " values ('ZZ-001', 'ZZ', '001', '9900001', 'Cañon City RE-1')"
            " on conflict do nothing"
        )
