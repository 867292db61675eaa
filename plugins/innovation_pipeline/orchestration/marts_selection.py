"""Which dbt models a marts build must run: only those downstream of what changed since the last
build that finished.

A build that runs every model re-creates every view and rebuilds every small table, although a
view reads its sources live and a table only changes when its inputs do. Since the last finished
build (a row of ``audit.marts_finished_builds``, written by :func:`record_finished_build`):

- the project (every file dbt reads, and the dbt variables) changed, or no build finished yet:
  everything, as ``dbt build`` would;
- otherwise the tables and incremental models downstream of each source that received a
  submission (``source:raw.<source>+``), of the submission audit when any submission arrived
  (``submission_quality``, ``dim_school_year``), of the district directory when it changed and of
  the data-quality results when GX ran since; views are left alone (``--exclude
  config.materialized:view``): their SQL has not changed and they read their sources live;
- nothing changed: nothing to run (``BuildPlan.nothing_to_do``).

The incremental models still pick their partitions themselves (their high-water marks), so a run
selected here equals a full refresh (tests/test_dbt_project.py checks it).

The benchmark (``benchmarks/statewide.py``) and the marts DAG use the same two calls:
``plan_build(as_of)`` before dbt, ``record_finished_build(plan)`` after it succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from innovation_pipeline.orchestration import dbt_project
from innovation_pipeline.warehouse import connect

#: What every selected run leaves out: views read their sources live, and their SQL is unchanged
#: (a changed project runs everything).
EXCLUDE_VIEWS = "config.materialized:view"
#: Models built on the submission audit alone: any new submission (rejected ones too) changes them.
AUDIT_MODELS = ("submission_quality", "dim_school_year")


@dataclass
class BuildPlan:
    """What a marts build runs, and why."""

    #: dbt selectors (``--select``); None: everything.
    select: list[str] | None
    exclude: list[str] = field(default_factory=list)
    reason: str = ""
    #: The state to record once the build has finished.
    fingerprint: str = ""
    as_of_submission_id: int = 0
    reference_digest: str = ""
    dq_run_id: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return self.select == []

    def to_xcom(self) -> dict[str, Any]:
        """The plan as JSON for an XCom (the prepare task hands it to the dbt producer)."""
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> BuildPlan:
        return cls(**value)

    def dbt_args(self) -> list[str]:
        """``--select``/``--exclude`` arguments for a dbt command ([] for everything)."""
        if self.select is None:
            return []
        args = ["--select", *self.select]
        if self.exclude:
            args += ["--exclude", *self.exclude]
        return args


def project_state(dbt_vars: dict[str, object] | None = None) -> str:
    """A hash of the dbt project's files and the variables a build runs with (the snapshot pin
    aside: it changes every build and no model's SQL depends on its value)."""
    relevant = {k: v for k, v in (dbt_vars or {}).items() if k != "as_of_submission_id"}
    digest = hashlib.sha256(dbt_project.project_fingerprint().encode("utf-8"))
    digest.update(json.dumps(relevant, sort_keys=True, default=str).encode("utf-8"))
    digest.update(os.environ.get("PIPELINE_DBT_TARGET", "").encode("utf-8"))
    return digest.hexdigest()[:16]


def _reference_digest(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "select md5(coalesce((select string_agg(d::text, '|' order by d.district_id) from ref.districts d), '')"
        " || '#' || coalesce((select string_agg(a::text, '|' order by a::text) from ref.district_aliases a), ''))"
    ).fetchone()
    return str(row[0]) if row else ""


def _dq_run_id(conn: psycopg.Connection) -> int:
    if conn.execute("select to_regclass('dq.validation_runs')").fetchone() == (None,):
        return 0
    row = conn.execute("select coalesce(max(run_id), 0) from dq.validation_runs").fetchone()
    return int(row[0]) if row else 0


def _dbt_raw_sources() -> set[str]:
    """The raw tables the dbt project declares as sources: one per contract (the generated
    ``_raw__sources.yml``); read from the contracts, so planning needs no manifest."""
    from innovation_pipeline.contracts import contract_paths

    return {path.stem for path in contract_paths()}


def plan_build(
    as_of_submission_id: int | None = None,
    dbt_vars: dict[str, object] | None = None,
    conn: psycopg.Connection | None = None,
) -> BuildPlan:
    """The models a build reading submissions up to ``as_of_submission_id`` (default: all) must
    run, from what changed since the last finished build."""
    if conn is None:
        with connect(autocommit=True) as own:
            return plan_build(as_of_submission_id, dbt_vars, own)
    if as_of_submission_id is None:
        row = conn.execute("select coalesce(max(submission_id), 0) from audit.submissions").fetchone()
        as_of_submission_id = int(row[0]) if row else 0
    state = BuildPlan(
        select=None,
        fingerprint=project_state(dbt_vars),
        as_of_submission_id=as_of_submission_id,
        reference_digest=_reference_digest(conn),
        dq_run_id=_dq_run_id(conn),
    )
    last = conn.execute(
        "select project_state, through_submission_id, reference_digest, dq_run_id"
        " from audit.marts_finished_builds order by build_seq desc limit 1"
    ).fetchone()
    if last is None:
        state.reason = "no marts build has finished yet: every model"
        return state
    fingerprint, through, reference, dq_run = last
    if fingerprint != state.fingerprint:
        state.reason = "the dbt project or its variables changed since the last build: every model"
        return state
    sources = [
        s
        for (s,) in conn.execute(
            "select distinct source from audit.submissions where submission_id > %s and submission_id <= %s"
            " order by source",
            (through, as_of_submission_id),
        ).fetchall()
    ]
    select: list[str] = []
    declared = _dbt_raw_sources() if sources else set()
    select += [f"source:raw.{s}+" for s in sources if s in declared]
    if sources:
        select += list(AUDIT_MODELS)
    if reference != state.reference_digest:
        select += ["source:ref.districts+", "source:ref.district_aliases+"]
    if dq_run != state.dq_run_id:
        select += ["source:dq.validation_runs+", "source:dq.expectation_results+"]
    state.select = select
    state.exclude = [EXCLUDE_VIEWS] if select else []
    changed = [f"submissions of {', '.join(sources)}"] if sources else []
    changed += ["the district directory"] if reference != state.reference_digest else []
    changed += ["data-quality results"] if dq_run != state.dq_run_id else []
    state.reason = (
        "changed since the last build: " + "; ".join(changed) + " (views left alone)"
        if changed
        else "nothing changed since the last build"
    )
    return state


def record_finished_build(plan: BuildPlan, conn: psycopg.Connection | None = None) -> None:
    """Record that a build run by ``plan`` succeeded: the next plan starts from here."""
    if conn is None:
        with connect(autocommit=True) as own:
            record_finished_build(plan, own)
            return
    conn.execute(
        "insert into audit.marts_finished_builds"
        " (project_state, through_submission_id, reference_digest, dq_run_id, selection)"
        " values (%s, %s, %s, %s, %s)",
        (
            plan.fingerprint,
            plan.as_of_submission_id,
            plan.reference_digest,
            plan.dq_run_id,
            " ".join(plan.dbt_args()) or "everything",
        ),
    )


def models_not_selected(plan: BuildPlan, manifest_path: Path | None = None) -> list[str]:
    """The unique ids of the models and seeds ``plan`` leaves out (none when it runs everything),
    from the manifest's graph: what ``dbt ls`` with the plan's arguments would not list
    (the selectors :func:`plan_build` writes: ``source:<schema>.<table>+``, model names, and the
    views excluded)."""
    if plan.select is None:
        return []
    manifest = json.loads((manifest_path or dbt_project.ensure_manifest()).read_text(encoding="utf-8"))
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    children: dict[str, set[str]] = defaultdict(set)
    for uid, node in nodes.items():
        for parent in node["depends_on"].get("nodes", []):
            children[parent].add(uid)
    by_name = {n["name"]: uid for uid, n in nodes.items()}
    sources = {f"source:{s['source_name']}.{s['name']}": uid for uid, s in manifest["sources"].items()}
    chosen: set[str] = set()
    for selector in plan.select:
        start = sources.get(selector.removesuffix("+")) or by_name.get(selector.removesuffix("+"))
        if start is None:
            continue
        if not selector.endswith("+"):
            chosen.add(start)
            continue
        queue = [start]
        while queue:
            for child in children.get(queue.pop(), ()):
                if child not in chosen:
                    chosen.add(child)
                    queue.append(child)
    if EXCLUDE_VIEWS in plan.exclude:
        chosen = {uid for uid in chosen if nodes[uid]["config"]["materialized"] != "view"}
    return sorted(uid for uid in nodes if uid not in chosen)


#: A selector that matches no node: a build with nothing to do still runs dbt once (start-up and
#: parsing only), so that the marts DAG's per-node tasks all see the producer finish.
MATCH_NOTHING = "tag:marts_selection_nothing_to_do"
PLAN_XCOM_KEY = "marts_plan"


def cosmos_pre_execute(context: Any) -> None:
    """``pre_execute`` of the Cosmos watcher producer (the task whose id ends with
    ``dbt_producer_watcher``; a no-op for every other task): run only what the prepare task's plan
    selects, and report every node left out as skipped, as Cosmos does for sources that are not
    fresh, so each node's task shows what happened to it."""
    task = context["task"]
    if not task.task_id.endswith("dbt_producer_watcher"):
        return
    ti = context["ti"]
    value = (ti.xcom_pull(task_ids="prepare") or {}).get(PLAN_XCOM_KEY)
    if not value:
        return
    plan = BuildPlan.from_xcom(value)
    if plan.select is None:
        return
    task.select = " ".join(plan.select) if plan.select else MATCH_NOTHING
    task.exclude = " ".join(plan.exclude) or None
    for uid in models_not_selected(plan):
        ti.xcom_push(key=f"{uid.replace('.', '__')}_status", value={"status": "skipped", "outlet_uris": []})


def cosmos_post_execute(context: Any, result: Any = None) -> None:
    """``post_execute`` of the Cosmos watcher producer: its build succeeded, record the plan."""
    if not context["task"].task_id.endswith("dbt_producer_watcher"):
        return
    value = (context["ti"].xcom_pull(task_ids="prepare") or {}).get(PLAN_XCOM_KEY)
    if value:
        record_finished_build(BuildPlan.from_xcom(value))
