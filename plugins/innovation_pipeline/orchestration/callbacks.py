"""Failure callbacks: every failed task is recorded where the data-quality report can read it.

``audit.task_failures`` gets one row per task instance that ends failed (after its retries),
with the reason as the task raised it: for a rejected file, the loader's message naming the file
and the row or column. Notifiers (e-mail, Slack) are optional and configured by environment; see
``orchestration/README.md``.

A callback must never fail the task a second time, so every error here is logged and swallowed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from innovation_pipeline.orchestration import config

log = logging.getLogger(__name__)

FAILURES_SCHEMA = "audit"
FAILURES_TABLE = "task_failures"
#: Longer messages are cut: a stack of nested exceptions is no use to a program officer.
MAX_MESSAGE_CHARS = 2000


def _ddl() -> list[Any]:
    from psycopg import sql

    table = sql.Identifier(FAILURES_SCHEMA, FAILURES_TABLE)
    return [
        sql.SQL("create schema if not exists {}").format(sql.Identifier(FAILURES_SCHEMA)),
        sql.SQL(
            "create table if not exists {} ("
            " dag_id text not null,"
            " task_id text not null,"
            " run_id text not null,"
            " map_index integer not null default -1,"
            " try_number integer,"
            " failed_at timestamptz not null default now(),"
            " message text)"
        ).format(table),
    ]


def failure_message(error: BaseException | str | None) -> str:
    """The reason a task failed, in one readable line or paragraph, cut to a sane length."""
    if error is None:
        return "the task failed without an error message (killed, timed out or marked failed)"
    text = str(error).strip() or type(error).__name__
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def record_failure(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    try_number: int | None,
    message: str,
    failed_at: dt.datetime | None = None,
) -> None:
    """Insert one row into ``audit.task_failures``, creating the table if needed."""
    from psycopg import sql

    from innovation_pipeline.warehouse import connect

    insert = sql.SQL(
        "insert into {} (dag_id, task_id, run_id, map_index, try_number, failed_at, message)"
        " values (%s, %s, %s, %s, %s, coalesce(%s, now()), %s)"
    ).format(sql.Identifier(FAILURES_SCHEMA, FAILURES_TABLE))
    with connect(autocommit=True) as conn:
        for statement in _ddl():
            conn.execute(statement)
        conn.execute(insert, (dag_id, task_id, run_id, map_index, try_number, failed_at, message))


def record_task_failure(context: Any) -> None:
    """``on_failure_callback``: record the failed task instance in ``audit.task_failures``."""
    try:
        ti = context["ti"]
        record_failure(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1,
            try_number=getattr(ti, "try_number", None),
            message=failure_message(context.get("exception")),
        )
    except Exception:
        # The task has failed already; a second failure here would only hide the first.
        log.exception("could not record the task failure in audit.task_failures")


async def record_missed_deadline(source: str, minutes: int, **kwargs: Any) -> None:
    """Deadline-alert callback (runs in the triggerer): an ingest run took longer than allowed."""
    import asyncio

    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") or {}
    run_id = getattr(dag_run, "run_id", None)
    if run_id is None and isinstance(dag_run, dict):
        run_id = dag_run.get("run_id")
    message = (
        f"deadline missed: the {config.ingest_dag_id(source)} run was not finished {minutes} minutes "
        "after it was queued"
    )
    log.warning(message)
    try:
        await asyncio.to_thread(
            record_failure,
            dag_id=config.ingest_dag_id(source),
            task_id="(deadline)",
            run_id=run_id or "unknown",
            map_index=-1,
            try_number=None,
            message=message,
        )
    except Exception:
        log.exception("could not record the missed deadline in audit.task_failures")


def failure_callbacks() -> list[Any]:
    """``on_failure_callback`` list: always the audit record, plus any configured notifiers.

    Building a notifier opens no connection; it looks its connection up only when it sends.
    """
    callbacks: list[Any] = [record_task_failure]
    emails = config.alert_emails()
    if emails:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        callbacks.append(
            SmtpNotifier(
                to=emails,
                subject="[innovation-pipeline] {{ ti.dag_id }}.{{ ti.task_id }} failed",
                html_content=(
                    "<p>Task {{ ti.task_id }} of {{ ti.dag_id }} (run {{ run_id }}, map index "
                    "{{ ti.map_index }}) failed: {{ exception }}</p>"
                ),
            )
        )
    slack = config.slack_conn_id()
    if slack:
        try:
            from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
        except ImportError as exc:
            raise RuntimeError(
                "PIPELINE_SLACK_CONN_ID is set but apache-airflow-providers-slack is not installed"
            ) from exc
        callbacks.append(
            SlackWebhookNotifier(
                slack_webhook_conn_id=slack,
                text=":red_circle: {{ ti.dag_id }}.{{ ti.task_id }} failed (run {{ run_id }}): "
                "{{ exception }}",
            )
        )
    return callbacks
