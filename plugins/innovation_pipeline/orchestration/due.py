"""Due dates from the contract, the SLA of a submission: which school year is due, and who is late.

Airflow 3 has no task SLAs; what a state data team means by an SLA here is the contract's due date
(``due: {month, day, year_offset}``). Each ingest run checks the school year whose due date passed
most recently before the run's date, and flags it overdue when nothing was received for it, or when
a submitter that sent a file for the year before sent none for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from innovation_pipeline.contracts import Contract

#: Statuses of a submission that counts as received for its school year.
RECEIVED_STATUSES = ("loaded", "superseded")


def school_year_of(day: dt.date) -> int:
    """The school year (its ending year) that contains a date; school years run July to June."""
    return day.year + 1 if day.month >= 7 else day.year


def latest_due(contract: Contract, on: dt.date) -> tuple[int, dt.date]:
    """The school year whose due date is the latest one on or before ``on``, and that date."""
    year = school_year_of(on) + 1
    while contract.due.for_school_year(year) > on:
        year -= 1
    return year, contract.due.for_school_year(year)


def due_text(contract: Contract) -> str:
    """The due rule in words, e.g. 'July 15 of the school year's ending year'."""
    day = dt.date(2000, contract.due.month, contract.due.day).strftime("%B %-d")
    which = "the school year's ending year" if contract.due.year_offset == 0 else "the year after it ends"
    return f"{day} of {which}"


@dataclass
class DueStatus:
    """Where one source stands against its latest due date."""

    source: str
    school_year: int
    due_date: dt.date
    checked_on: dt.date
    submitters: list[str] = field(default_factory=list)
    late_submitters: list[str] = field(default_factory=list)
    missing_submitters: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return not self.submitters or bool(self.missing_submitters)

    def summary(self) -> str:
        head = f"{self.source}: school year {self.school_year} was due {self.due_date.isoformat()}"
        if not self.submitters:
            return f"{head}; OVERDUE: nothing received for it"
        parts = [f"{len(self.submitters)} submitter(s) received"]
        if self.late_submitters:
            parts.append(f"late: {', '.join(self.late_submitters)}")
        if self.missing_submitters:
            parts.append(
                f"OVERDUE: submitted for {self.school_year - 1} but not yet for {self.school_year}: "
                + ", ".join(self.missing_submitters)
            )
        return f"{head}; " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "school_year": self.school_year,
            "due_date": self.due_date.isoformat(),
            "checked_on": self.checked_on.isoformat(),
            "overdue": self.overdue,
            "submitters": self.submitters,
            "late_submitters": self.late_submitters,
            "missing_submitters": self.missing_submitters,
        }


def check_due(contract: Contract, on: dt.date, conn: Any) -> DueStatus:
    """Compare ``audit.submissions`` with the latest due date; ``conn`` is a psycopg connection."""
    year, due = latest_due(contract, on)
    status = DueStatus(contract.source, year, due, on)
    exists = conn.execute("select to_regclass('audit.submissions') is not null").fetchone()[0]
    if not exists:
        return status
    rows = conn.execute(
        "select school_year, coalesce(submitter, ''), bool_or(coalesce(is_late, false))"
        " from audit.submissions"
        " where source = %s and school_year in (%s, %s) and status = any(%s)"
        " group by 1, 2 order by 1, 2",
        (contract.source, year - 1, year, list(RECEIVED_STATUSES)),
    ).fetchall()
    this_year = {r[1]: r[2] for r in rows if r[0] == year}
    last_year = {r[1] for r in rows if r[0] == year - 1}
    status.submitters = sorted(this_year)
    status.late_submitters = sorted(s for s, late in this_year.items() if late)
    status.missing_submitters = sorted(last_year - set(this_year))
    return status
