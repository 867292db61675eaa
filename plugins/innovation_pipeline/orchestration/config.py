"""Orchestration settings read from the environment, and the Asset names that link the DAGs.

Every value here is read when a DAG file is parsed, so nothing in this module may touch the
warehouse, a connection or an Airflow Variable: environment variables and constants only.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable

#: All DAGs start here; with ``catchup=False`` only the latest interval runs, so this date only
#: anchors the schedule. Timezone-aware, as Airflow requires.
START_DATE = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)

#: The DAG that rebuilds the cross-state marts whenever any raw table changes.
MARTS_DAG_ID = "build_marts"

#: The DAG that publishes the dbt docs, the GX Data Docs and the data-quality report after each
#: marts build, outside the build's own run (they take longer than the build's GX check).
DOCS_DAG_ID = "publish_docs"

#: The Asset a marts build updates when it has ended (validated or not) and recorded its checks;
#: it schedules the docs DAG, so the report also shows a build whose marts failed.
MARTS_CHECKED_URI = "warehouse://dq/marts_checked"

#: Priority of every ingest task over the marts tasks (whose weights are their downstream counts).
INGEST_PRIORITY = 1000

#: The Asset the marts DAG updates once the marts are built and validated.
MARTS_ASSET_URI = "warehouse://marts"


def ingest_dag_id(source: str) -> str:
    """DAG id of a source's ingest DAG."""
    return f"ingest_{source}"


def raw_asset(source: str) -> Asset:
    """The Asset for a source's raw table; its ingest DAG updates it, the marts DAG waits on it."""
    return Asset(f"warehouse://raw/{source}", group="raw", extra={"table": f"raw.{source}"})


def marts_asset() -> Asset:
    """The Asset for the validated marts."""
    return Asset(MARTS_ASSET_URI, group="marts")


def inbox_asset(source: str) -> Asset:
    """The Asset of a source's inbox: updated by a watcher in the triggerer when a file arrives
    (:mod:`~innovation_pipeline.orchestration.inbox_watch`); no watcher when watching is off."""
    from innovation_pipeline.orchestration.inbox_watch import InboxTrigger, watch_seconds

    seconds = watch_seconds()
    watchers = [AssetWatcher(f"inbox_{source}", InboxTrigger(source, seconds))] if seconds else []
    return Asset(name=f"inbox_{source}", uri=f"inbox://{source}", group="inbox", watchers=watchers)


def ingest_schedule(source: str, schedule: str | None) -> Any:
    """An ingest DAG's schedule: the contract's (cron or preset), or a file arriving in its inbox."""
    from innovation_pipeline.orchestration.inbox_watch import watch_seconds

    if not watch_seconds():
        return schedule
    if schedule is None:
        return inbox_asset(source)
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=inbox_asset(source)
    )


def marts_checked_asset() -> Asset:
    """The Asset a marts build updates once it has ended and its checks are recorded."""
    return Asset(MARTS_CHECKED_URI, group="dq")


def load_pool() -> str:
    """Pool that caps concurrent file loads across all ingest DAGs (``PIPELINE_LOAD_POOL``)."""
    return os.environ.get("PIPELINE_LOAD_POOL") or "default_pool"


def load_parallelism() -> int:
    """Files of one source landed at once in one run (``PIPELINE_LOAD_PARALLELISM``, default 1).

    One at a time by default: a district's corrected file must land after the file it corrects,
    so that the later one supersedes the earlier, and files are listed in arrival order.
    """
    return max(1, int(os.environ.get("PIPELINE_LOAD_PARALLELISM") or 1))


def transform_queue() -> str | None:
    """Executor queue for dbt and GX tasks (``PIPELINE_TRANSFORM_QUEUE``), or the default queue."""
    return os.environ.get("PIPELINE_TRANSFORM_QUEUE") or None


def retry_delay() -> dt.timedelta:
    """Delay between task retries (``PIPELINE_RETRY_DELAY_SECONDS``, default 300)."""
    return dt.timedelta(seconds=int(os.environ.get("PIPELINE_RETRY_DELAY_SECONDS") or 300))


def task_timeout() -> dt.timedelta:
    """How long one ingest task may run before Airflow stops it (``PIPELINE_TASK_TIMEOUT_MINUTES``,
    default 120): a file that keeps the loader busy must not hold a worker slot and the load pool
    for ever. Above the workbook reading bound (readers.MAX_EXCEL_SECONDS)."""
    return dt.timedelta(minutes=int(os.environ.get("PIPELINE_TASK_TIMEOUT_MINUTES") or 120))


def run_deadline() -> dt.timedelta | None:
    """How long an ingest run may take from being queued before a deadline alert is recorded.

    ``PIPELINE_RUN_DEADLINE_MINUTES``; unset or ``0`` means no alert. Off by default because
    ``dag.test()`` in Airflow 3.3.2 cannot run a DAG that has a deadline alert (its DagRun looks
    the alert up by the serialized dict instead of its id), and ``make demo`` and the tests run the
    DAGs with ``dag.test()``. Under the scheduler the alert works.
    """
    minutes = int(os.environ.get("PIPELINE_RUN_DEADLINE_MINUTES") or 0)
    return dt.timedelta(minutes=minutes) if minutes > 0 else None


def alert_emails() -> list[str]:
    """Addresses that get an e-mail for every failed task (``PIPELINE_ALERT_EMAIL``, comma-separated)."""
    value = os.environ.get("PIPELINE_ALERT_EMAIL") or ""
    return [a.strip() for a in value.split(",") if a.strip()]


def slack_conn_id() -> str | None:
    """Airflow connection of a Slack webhook that gets failed tasks (``PIPELINE_SLACK_CONN_ID``)."""
    return os.environ.get("PIPELINE_SLACK_CONN_ID") or None


def inbox_conn_id() -> str | None:
    """Airflow connection with the credentials of a remote inbox (``PIPELINE_INBOX_CONN_ID``)."""
    return os.environ.get("PIPELINE_INBOX_CONN_ID") or None


def dbt_test_behavior() -> str:
    """How dbt tests become tasks (``PIPELINE_DBT_TEST_BEHAVIOR``): ``after_all`` (default) or ``after_each``.

    ``after_all``: one task per seed, source and model, then one task that runs every dbt test
    (data and unit tests); a failed test stops the marts from being validated and published.
    ``after_each``: each model's own tests in a task right after it, and each test that spans
    several models in a task of its own after all of them. That is about three times as many tasks
    (about 150 instead of 50 for this project), each a dbt invocation of a few seconds.
    """
    value = (os.environ.get("PIPELINE_DBT_TEST_BEHAVIOR") or "after_all").strip().lower()
    if value not in ("after_all", "after_each"):
        raise ValueError(f"PIPELINE_DBT_TEST_BEHAVIOR must be after_all or after_each, not {value!r}")
    return value
