"""Airflow orchestration: the DAG factory and the task functions the DAGs in ``dags/`` run.

``dags/`` holds two thin files that call :func:`ingest_dags` and :func:`marts_dags`; everything
else lives here, importable and testable. Both use Airflow's parsing context so that a task
process builds only the DAG it runs. Building a DAG reads YAML files (and, for the marts, a dbt
manifest) but never touches the warehouse: no connection is opened and no query runs at parse time.
"""

from __future__ import annotations

from typing import Any


def _parsing_dag_id() -> str | None:
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def ingest_dags() -> dict[str, Any]:
    """``ingest_<source>`` DAGs, one per contract; only the one being run when a task starts."""
    from innovation_pipeline.orchestration.ingest import build_ingest_dags

    return build_ingest_dags(only_dag_id=_parsing_dag_id())


def marts_dags() -> dict[str, Any]:
    """The ``build_marts`` and ``publish_docs`` DAGs, unless a task of another DAG is starting."""
    from innovation_pipeline.orchestration.config import DOCS_DAG_ID, MARTS_DAG_ID

    current = _parsing_dag_id()
    if current and current not in (MARTS_DAG_ID, DOCS_DAG_ID):
        return {}
    from innovation_pipeline.orchestration.marts import build_docs_dag, build_marts_dag

    dags = {}
    if current in (None, MARTS_DAG_ID):
        dags[MARTS_DAG_ID] = build_marts_dag()
    if current in (None, DOCS_DAG_ID):
        dags[DOCS_DAG_ID] = build_docs_dag()
    return dags
