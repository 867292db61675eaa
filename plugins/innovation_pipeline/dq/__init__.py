"""Data quality: GX suites for every raw landing and mart, results in the ``dq`` schema, and the
program-officer report.

Public API (imports are lazy so that loading the Airflow plugin does not import Great Expectations):

- ``validate_landing(contract, submission_ids) -> dict``
- ``validate_marts() -> dict`` (raises ``MartValidationError`` after storing results when a mart fails)
- ``build_report(out_dir=None) -> Path``
- ``ensure_dq_schema(conn)``
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from innovation_pipeline.dq.schema import ensure_dq_schema
from innovation_pipeline.dq.validate import MartValidationError

if TYPE_CHECKING:
    from innovation_pipeline.contracts import Contract

__all__ = ["MartValidationError", "build_report", "ensure_dq_schema", "validate_landing", "validate_marts"]


def validate_landing(contract: Contract, submission_ids: list[int]) -> dict[str, Any]:
    """Run the source's raw-landing suite for these submissions, store the results, return a summary."""
    from innovation_pipeline.dq.validate import validate_landing as run

    return run(contract, submission_ids)


def validate_marts() -> dict[str, Any]:
    """Run the mart suites and store the results; raise ``MartValidationError`` when a mart fails."""
    from innovation_pipeline.dq.validate import validate_marts as run

    return run()


def build_report(out_dir: Path | None = None) -> Path:
    """Write the program-officer HTML site (default ``output_dir()/report``); return its index page."""
    from innovation_pipeline.dq.report import build_report as build

    return build(out_dir)
