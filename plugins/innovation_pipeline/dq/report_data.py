"""Read what the report shows from ``audit.*``, ``ref.*`` and ``dq.*`` (numbers come straight from them)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row

from innovation_pipeline.contracts import Contract
from innovation_pipeline.dq import catalog, masking

QUARANTINE_ROWS_ON_PAGE = 200


@dataclass
class Program:
    """A program (one or more sources) as the report shows it."""

    program: str
    title: str
    states: list[str]
    sources: dict[str, Contract]
    submitter_word: str

    @property
    def submitter_plural(self) -> str:
        """'Districts', 'State agencies', 'District / Provider' -> 'Districts / Providers'."""
        return " / ".join(plural_word(w) for w in self.submitter_word.split(" / "))


def plural_word(word: str) -> str:
    """The plural of a submitter word (English, for the few words the report uses)."""
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word if word.endswith("s") else word + "s"


@dataclass
class Submission:
    """One received file and everything found about it."""

    row: dict[str, Any]
    submitter_name: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] | None = None
    quarantine_summary: list[dict[str, Any]] = field(default_factory=list)
    quarantine_rows: list[dict[str, Any]] = field(default_factory=list)
    quarantine_total: int = 0
    rejection: catalog.Explanation | None = None
    csv_name: str | None = None
    # Set by the report: the name a corrected file should have, and whether a later file of the
    # same submitter and school year replaced this one (then nothing needs to be sent again).
    expected_file_name: str | None = None
    replaced: bool = False
    file_format: str | None = None

    @property
    def id(self) -> int:
        return int(self.row["submission_id"])

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["success"]]

    @property
    def has_problems(self) -> bool:
        return bool(self.rejection or self.failed_checks or self.row.get("rows_quarantined"))

    @property
    def grid_status(self) -> str:
        """ok, late, problems or rejected: the status grid's colour for this submission."""
        if self.row["status"] == "rejected":
            return "rejected"
        if self.failed_checks or self.row.get("rows_quarantined"):
            return "problems"
        return "late" if self.row.get("is_late") else "ok"


def programs(contracts: dict[str, Contract], seen: list[tuple[str, str]]) -> list[Program]:
    """Programs from the contracts, plus any program found in the audit trail without a contract."""
    grouped: dict[str, list[Contract]] = defaultdict(list)
    for c in contracts.values():
        grouped[c.program].append(c)
    out = []
    for program, members in grouped.items():
        main = next((c for c in members if c.kind == "program"), None)
        title = main.title if main else "Shared student outcomes (all states)"
        # A feed that spans states (state US) covers them all, even if a state's own file joins it.
        states = (
            ["all states"] if any(c.state == "US" for c in members) else sorted({c.state for c in members})
        )
        words = {"district": "District", "provider": "Provider", "state": "State agency"}
        submitter = " / ".join(sorted({words[c.submitter] for c in members}))
        out.append(Program(program, title, states, {c.source: c for c in members}, submitter))
    known = {p.program for p in out}
    for program, _source in seen:
        if program not in known:
            out.append(Program(program, program.replace("_", " ").title(), [], {}, "Submitter"))
            known.add(program)
    # Programs first, the shared outcome feeds last.
    return sorted(out, key=lambda p: (p.program == "state_outcomes", p.title))


def _explain(result: dict[str, Any]) -> Any:
    """A stored expectation result (a dq.expectation_results row) in plain words."""
    return catalog.explain_check(
        result["check_id"] or "unknown",
        catalog.check_values(
            result["column_name"],
            result["expectation_kwargs"],
            observed=result["observed_value"],
            count=result["unexpected_count"],
            total=result["element_count"],
        ),
    )


def _exists(conn: Any, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


class ReportData:
    """Everything the report needs, read once.

    With ``states``, only what those states' officers may see: their states' submissions, checks,
    quarantined rows and ingest failures. The marts' validation (all states) and the feeds that
    span states are left out, as the ``dq`` row policies leave them out for a state-scoped officer.
    """

    def __init__(
        self, conn: Any, contracts: dict[str, Contract], states: frozenset[str] | None = None
    ) -> None:
        self.conn = conn
        self.states = states
        self.contracts = (
            contracts if states is None else {k: c for k, c in contracts.items() if c.state in states}
        )
        self.cur = conn.cursor(row_factory=dict_row)
        self.has_audit = _exists(conn, "audit.submissions")
        self.has_dq = _exists(conn, "dq.validation_runs")
        seen = (
            self._all(
                "select distinct program, source from audit.submissions"
                " where %(states)s::text[] is null or state = any(%(states)s)",
                {"states": self._state_list},
            )
            if self.has_audit
            else []
        )
        self.programs = programs(self.contracts, [(r["program"], r["source"]) for r in seen])

    @property
    def _state_list(self) -> list[str] | None:
        return sorted(self.states) if self.states is not None else None

    def _all(self, query: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return self.cur.execute(query, params).fetchall()

    # --- submissions -----------------------------------------------------------------------

    def submissions(self, program: str) -> list[Submission]:
        """Every submission of a program with its latest validation, quarantine and rejection."""
        if not self.has_audit:
            return []
        rows = self._all(
            """
            select s.*, coalesce(d.name, c.name, a.name) as district_name
            from audit.submissions s
            -- the loader records a district submitter by its canonical id; older rows may hold the code
            left join ref.districts d on d.district_id = s.submitter
            left join ref.districts c on c.district_id = s.state || '-' || s.submitter
            left join lateral (
                select rd.name from ref.district_aliases al join ref.districts rd using (district_id)
                where al.state = s.state and al.alias_normalized = lower(s.submitter) limit 1
            ) a on true
            where s.program = %(program)s and (%(states)s::text[] is null or s.state = any(%(states)s))
            order by s.school_year nulls last, s.submitter, s.received_at
            """,
            {"program": program, "states": self._state_list},
        )
        subs = [Submission(r, self._submitter_name(r)) for r in rows]
        self._attach_validation(subs)
        self._attach_quarantine(subs)
        for s in subs:
            contract = self.contracts.get(s.row["source"])
            s.file_format = contract.file.format if contract else None
            if s.row["status"] in {"rejected", "duplicate"}:
                s.rejection = catalog.explain_rejection(
                    _capped(s.row.get("message"), MESSAGE_SHOWN),
                    s.row["status"],
                    s.row.get("reason_code"),
                    s.file_format,
                )
        return subs

    def _submitter_name(self, row: dict[str, Any]) -> str:
        submitter = row.get("submitter") or "(not readable from the file name)"
        name = row.get("district_name")
        return f"{name} ({submitter})" if name else str(submitter)

    def _attach_validation(self, subs: list[Submission]) -> None:
        if not self.has_dq or not subs:
            return
        ids = [s.id for s in subs]
        runs = {
            r["submission_id"]: r
            for r in self._all(
                """
                select distinct on (submission_id) *
                from dq.validation_runs
                where kind = 'landing' and submission_id = any(%s)
                order by submission_id, run_at desc, run_id desc
                """,
                (ids,),
            )
        }
        run_ids = [r["run_id"] for r in runs.values()]
        results: dict[int, list[dict[str, Any]]] = defaultdict(list)
        examples: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if run_ids:
            for x in self._all(
                "select result_id, example_no, source_row, row_values from dq.example_rows"
                " where run_id = any(%s) order by result_id, example_no",
                (run_ids,),
            ):
                examples[x["result_id"]].append(x)
            for r in self._all(
                "select * from dq.expectation_results where run_id = any(%s) order by result_id", (run_ids,)
            ):
                r["explained"] = _explain(r)
                r["examples"] = [masking.mask_row(x["row_values"]) for x in examples[r["result_id"]]]
                results[r["run_id"]].append(r)
        for s in subs:
            run = runs.get(s.id)
            if run:
                s.validation = run
                s.checks = results[run["run_id"]]

    def _attach_quarantine(self, subs: list[Submission]) -> None:
        if not subs or not _exists(self.conn, "audit.quarantine"):
            return
        by_id = {s.id: s for s in subs}
        for r in self._all(
            """
            select submission_id, reason_code, count(*) as problems, count(distinct source_row) as rows
            from audit.quarantine where submission_id = any(%s)
            group by submission_id, reason_code order by submission_id, count(*) desc, reason_code
            """,
            (list(by_id),),
        ):
            r["explained"] = catalog.explain_reason(r["reason_code"])
            by_id[r["submission_id"]].quarantine_summary.append(r)
            by_id[r["submission_id"]].quarantine_total += int(r["problems"])
        for sub in subs:
            if sub.quarantine_total:
                sub.quarantine_rows = self.quarantine_rows(sub.id, QUARANTINE_ROWS_ON_PAGE)

    def quarantine_rows(self, submission_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        """Quarantined rows of a submission, student identifiers masked."""
        rows = self._all(
            """
            select source_row, sheet, column_name, field_name, reason_code, message, raw_value
            from audit.quarantine where submission_id = %s
            order by source_row nulls first, quarantine_id
            limit %s
            """,
            (submission_id, limit),
        )
        source = self._all("select source from audit.submissions where submission_id = %s", (submission_id,))
        contract = self.contracts.get(source[0]["source"]) if source else None
        for r in rows:
            sensitive = masking.is_sensitive(r.get("column_name"), contract) or masking.is_sensitive(
                r.get("field_name"), contract
            )
            if sensitive:
                r["raw_value"] = masking.MASK if r.get("raw_value") is not None else None
                r["message"] = catalog.explain_reason(r["reason_code"]).title
            r["reason_title"] = catalog.explain_reason(r["reason_code"]).title
            r["message"] = _capped(r.get("message"), MESSAGE_SHOWN)
            r["raw_value"] = _capped(r.get("raw_value"), VALUE_SHOWN)
        return rows

    # --- marts and pipeline ----------------------------------------------------------------

    def mart_runs(self) -> list[dict[str, Any]]:
        """The latest validation of each mart suite, with its failed checks."""
        if not self.has_dq or self.states is not None:
            return []
        runs = self._all(
            """
            select distinct on (suite_name) * from dq.validation_runs where kind = 'mart'
            order by suite_name, run_at desc, run_id desc
            """
        )
        for run in runs:
            run["failed"] = self._all(
                "select * from dq.expectation_results where run_id = %s and not success order by result_id",
                (run["run_id"],),
            )
            for r in run["failed"]:
                r["explained"] = _explain(r)
        return runs

    def all_runs(self) -> list[dict[str, Any]]:
        """The latest run of every mart suite and of every loaded submission's landing suite, with
        every expectation result (the offline page of validation results)."""
        if not self.has_dq:
            return []
        if self.has_audit:
            runs = self._all(
                """
                select * from (
                    select distinct on (r.kind, r.suite_name, r.submission_id)
                           r.*, s.file_name, s.status as submission_status, s.state
                    from dq.validation_runs r
                    left join audit.submissions s on s.submission_id = r.submission_id
                    order by r.kind, r.suite_name, r.submission_id, r.run_at desc, r.run_id desc
                ) latest
                where (kind = 'mart' and %(states)s::text[] is null)
                   or (submission_status = 'loaded' and (%(states)s::text[] is null or state = any(%(states)s)))
                order by kind desc, suite_name, file_name
                """,
                {"states": self._state_list},
            )
        elif self.states is not None:
            runs = []
        else:
            runs = self._all(
                """
                select distinct on (suite_name) *, null as file_name from dq.validation_runs
                where kind = 'mart' order by suite_name, run_at desc, run_id desc
                """
            )
        results: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if runs:
            for r in self._all(
                "select * from dq.expectation_results where run_id = any(%s) order by result_id",
                ([run["run_id"] for run in runs],),
            ):
                r["explained"] = _explain(r)
                results[r["run_id"]].append(r)
        for run in runs:
            run["results"] = results[run["run_id"]]
        return runs

    def task_failures(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent failed Airflow tasks recorded by the orchestration callbacks, if that table exists."""
        if not _exists(self.conn, "audit.task_failures"):
            return []
        # A scoped report shows the failures of its states' ingest DAGs only: a marts failure or
        # another state's task can quote any state's data.
        dag_ids = None
        if self.states is not None:
            from innovation_pipeline.orchestration.config import ingest_dag_id

            dag_ids = sorted(ingest_dag_id(c.source) for c in self.contracts.values())
        rows = self._all(
            "select dag_id, task_id, run_id, map_index, try_number, failed_at, message"
            " from audit.task_failures where %(dags)s::text[] is null or dag_id = any(%(dags)s)"
            " order by failed_at desc limit %(limit)s",
            {"dags": dag_ids, "limit": limit},
        )
        for r in rows:
            # Officers get the first line only; the full text is in the table and the Airflow log.
            first = (r.get("message") or "").strip().splitlines()
            r["summary"] = (first[0] if first else "no message")[:300]
        return rows


# A page quotes at most this much of a message or a value (rows recorded before messages were
# capped at landing can hold a whole 10 MB cell).
MESSAGE_SHOWN = 600
VALUE_SHOWN = 200


def _capped(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text):,} characters in all)"
