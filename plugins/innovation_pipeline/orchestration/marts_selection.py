"""Which dbt models a marts build must run: only those downstream of what changed since the last
build that finished.

A build that runs every model re-creates every view and rebuilds every small table, although a
view reads its sources live and a table only changes when its inputs do. Since the last finished
build (a row of ``audit.marts_finished_builds``, written by :func:`record_finished_build`):

- the project (every file dbt reads, and the dbt variables) changed, or no build finished yet:
  everything, as ``dbt build`` would;
- otherwise the tables and incremental models downstream of each source that received a
  submission (``source:raw.<source>+``), of the submission audit when any submission arrived
  (``submission_quality``; ``dim_school_year`` when one of them is of a school year no earlier
  submission had), of the district directory when it changed and of
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
import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from innovation_pipeline.orchestration import dbt_project
from innovation_pipeline.warehouse import connect

log = logging.getLogger(__name__)

#: What every selected run leaves out: views read their sources live, and their SQL is unchanged
#: (a changed project runs everything).
EXCLUDE_VIEWS = "config.materialized:view"
#: Models built on the submission audit alone: any new submission (rejected ones too) changes the
#: first; the school years only a submission of a year no earlier one had.
AUDIT_MODELS = ("submission_quality",)
SCHOOL_YEARS_MODEL = "dim_school_year"


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
        """``--select``/``--exclude`` arguments for a dbt command ([] for everything; a selector
        matching no node when there is nothing to do)."""
        if self.select is None:
            return []
        if not self.select:
            return ["--select", MATCH_NOTHING]
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
    # Submissions' checks only: the models read no other (submission_quality keeps the runs with a
    # submission id), and the marts validation that follows every build would otherwise make the
    # next build rebuild them although nothing arrived.
    row = conn.execute(
        "select coalesce(max(run_id), 0) from dq.validation_runs where submission_id is not null"
    ).fetchone()
    return int(row[0]) if row else 0


def _dbt_raw_sources() -> set[str]:
    """The raw tables the dbt project declares as sources: one per contract (the generated
    ``_raw__sources.yml``); read from the contracts, so planning needs no manifest."""
    from innovation_pipeline.contracts import contract_paths

    return {path.stem for path in contract_paths()}


def _new_school_year(conn: psycopg.Connection, through: int, as_of: int) -> bool:
    """Whether a submission in (through, as_of] is of a school year no submission up to
    ``through`` had (dim_school_year lists the years of every submission, whatever its status)."""
    row = conn.execute(
        """
        select exists (
            select 1 from audit.submissions as new
            where new.submission_id > %(through)s and new.submission_id <= %(as_of)s
                and new.school_year is not null
                and not exists (
                    select 1 from audit.submissions as old
                    where old.submission_id <= %(through)s and old.school_year = new.school_year
                )
        )
        """,
        {"through": through, "as_of": as_of},
    ).fetchone()
    return bool(row and row[0])


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
        if _new_school_year(conn, through, as_of_submission_id):
            select.append(SCHOOL_YEARS_MODEL)
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
            "nothing" if plan.nothing_to_do else " ".join(plan.dbt_args()) or "everything",
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
#: The key of the plan in the prepare task's XCom (a dict, also holding the snapshot variable).
PLAN_XCOM_KEY = "marts_plan"
PRODUCER_SUFFIX = "dbt_producer_watcher"
SKIPPED = "skipped"


def _plan_of(context: Any) -> BuildPlan | None:
    value = (context["ti"].xcom_pull(task_ids="prepare") or {}).get(PLAN_XCOM_KEY)
    return BuildPlan.from_xcom(value) if value else None


def _is_producer(task: Any) -> bool:
    return bool(task.task_id.endswith(PRODUCER_SUFFIX))


def cosmos_pre_execute(context: Any) -> None:
    """``pre_execute`` of the Cosmos watcher producer (the task whose id ends with
    ``dbt_producer_watcher``; a no-op for every other task): run only what the prepare task's plan
    selects, and report every node left out, and its tests, as skipped (as Cosmos does for the
    nodes of sources that are not fresh), so each node's task ends skipped instead of waiting.

    The producer reads ``select``/``exclude`` when it builds its command in ``execute`` (after
    templates are rendered), so setting them here takes effect. A retried producer reads the same
    plan from prepare's XCom: Cosmos's producer then skips itself (no second ``dbt build``), the
    selected nodes' tasks run their own node, the others end skipped again, and nothing is recorded."""
    task = context["task"]
    if not _is_producer(task):
        return
    # Cosmos fills this as the build's tests end and never empties it: an operator run again in
    # the same process (dag.test() of one DAG object, twice) would start from the last run's.
    results = getattr(task, "test_results_per_model", None)
    if isinstance(results, dict):
        results.clear()
    plan = _plan_of(context)
    if plan is None or plan.select is None:
        return
    args = plan.dbt_args()
    task.select = " ".join(plan.select) or MATCH_NOTHING
    task.exclude = " ".join(plan.exclude) or None
    log.info("the build runs %s (%s)", " ".join(args), plan.reason)
    # The keys Cosmos's watcher producer pushes a node's result and its tests' result under, which
    # its node tasks read.
    from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
    from cosmos.operators._watcher.state import get_status_xcom_key

    tested = getattr(task, "tests_per_model", None) or {}
    ti = context["ti"]
    for uid in models_not_selected(plan):
        ti.xcom_push(key=get_status_xcom_key(uid), value={"status": SKIPPED, "outlet_uris": []})
        if uid in tested:
            ti.xcom_push(key=get_tests_status_xcom_key(uid), value=SKIPPED)


def cosmos_post_execute(context: Any, result: Any = None) -> None:
    """``post_execute`` of the Cosmos watcher producer (a no-op for every other task), which
    Airflow calls only when its ``dbt build`` succeeded: record the plan as the last finished build.

    Before that, a node that ran with only some of its tests (a test on a view the plan left out
    is left out too) gets its tests' result from those that ran, or skipped when none did: Cosmos
    reports a node's tests once all of them have finished, and its task would wait for the rest.

    After it, the node tasks of what the build left out are marked skipped at once
    (``DownstreamTasksSkipped``: the producer still succeeds), so the scheduler never starts them:
    each task costs seconds of its own on a worker, and after one new file most of the project's
    nodes are left out. A left-out node whose tests ran all the same (they also test a table the
    build made) keeps its test task, which reports them."""
    task = context["task"]
    if not _is_producer(task):
        return
    plan = _plan_of(context)
    if plan is None:
        return
    from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key

    left_out: set[str] = set()
    collected: dict[str, dict[str, str]] = getattr(task, "test_results_per_model", None) or {}
    if plan.select is not None:
        expected: dict[str, list[str]] = getattr(task, "tests_per_model", None) or {}
        left_out = set(models_not_selected(plan))
        for uid, tests in expected.items():
            seen = collected.get(uid, {})
            if uid in left_out or len(seen) >= len(tests):
                continue
            # The build succeeded: every test that ran passed (or only warned).
            context["ti"].xcom_push(key=get_tests_status_xcom_key(uid), value="pass" if seen else SKIPPED)
    record_finished_build(plan)
    skip = left_out_tasks(task, left_out, tested={uid for uid, seen in collected.items() if seen})
    if skip:
        from airflow.sdk.exceptions import DownstreamTasksSkipped

        log.info("%d node task(s) of nodes the build left out are skipped", len(skip))
        raise DownstreamTasksSkipped(tasks=skip)


def left_out_tasks(producer: Any, left_out: set[str], tested: set[str] | None = None) -> list[str]:
    """The ids of the producer's DAG's node tasks that report a node in ``left_out``, but for the
    test tasks (Cosmos's ``<node>.test``) of the nodes in ``tested``: some of their tests ran."""
    tested = tested or set()
    out = []
    for other in producer.dag.tasks:
        uid = getattr(other, "model_unique_id", None)
        if uid not in left_out:
            continue
        if uid in tested and other.task_id.endswith(".test"):
            continue
        out.append(other.task_id)
    return sorted(out)
