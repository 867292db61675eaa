"""Helpers for the contract tests on real state files: the real NCES directory in ref, contracts
written to a folder, and plain reads of the real files for the expected figures."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import psycopg
import yaml

from innovation_pipeline.contracts import Contract, load_contract
from innovation_pipeline.landing import ensure_landing_schema

SEVEN = ("CO", "KY", "MT", "ND", "NH", "UT", "WA")


def use_real_directory(url: str, ccd: Path) -> dict[str, str]:
    """Replace the seven states' districts in ``ref`` (the sample directory is synthetic outside
    Colorado) by the real NCES CCD 2024-25 directory; returns NCES LEA ID -> district id.

    District ids are CCD's ST_LEAID (``NH-335``); state codes are CCD's, except Kentucky's three-digit
    KDE number."""
    with ccd.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_landing_schema(conn)
        conn.execute("delete from ref.district_aliases")
        conn.execute("delete from ref.districts")
        with conn.cursor() as cur:
            cur.executemany(
                "insert into ref.districts (district_id, state, state_code, nces_lea_id, name, is_synthetic)"
                " values (%s, %s, %s, %s, %s, false)",
                [
                    (
                        r["ST_LEAID"],
                        r["ST"],
                        r["KY_KDE_DISTRICT_NUMBER"] if r["ST"] == "KY" else r["STATE_LEA_CODE"],
                        r["LEAID"],
                        r["LEA_NAME"],
                    )
                    for r in rows
                ],
            )
    return {r["LEAID"]: r["ST_LEAID"] for r in rows}


def write_contract(folder: Path, data: dict) -> Contract:
    path = folder / f"{data['source']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_contract(path)


def dec(text: str) -> Decimal:
    return Decimal(text)
