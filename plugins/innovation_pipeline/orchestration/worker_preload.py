"""Imports a Celery worker makes once at start, so that its task processes do not repeat them.

Airflow 3's Celery worker runs each task in a process forked from one of its pool processes, so a
task process starts with every module the worker had already imported. A dbt task of
``build_marts`` otherwise imports dbt (``dbt.cli.main`` and the postgres adapter) and Cosmos's
operators on each start (a large part of a short dbt task's time; the README's "What a worker
spends on a dbt task" has the figures), and a Great Expectations task imports GX. Celery's
``imports`` setting makes the worker import this module before it forks its pool::

    AIRFLOW__CELERY__EXTRA_CELERY_CONFIG='{"imports": ["innovation_pipeline.orchestration.worker_preload"]}'

(set on the workers only: docker-compose.yml does so for its ``airflow-worker`` services.) The
module only imports: no connection, thread or file is opened, so forking after it is safe, and
the scheduler and the API server never load it.
"""

from __future__ import annotations

import importlib

#: What a dbt task of build_marts imports on start: Cosmos's operators, dbtRunner (which Cosmos
#: invokes in the task process) and the adapter of the warehouse profile; what a GX task (an
#: ingest DAG's validate, the marts' validate and report) imports; the report plugin, which every
#: task process loads with Airflow's plugins (its module builds the report's FastAPI app); then
#: the DAG factories.
PRELOADED = (
    "cosmos.operators.local",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "great_expectations",
    "innovation_pipeline.dq.validate",
    "innovation_pipeline.dq.airflow_plugin",
    "innovation_pipeline.orchestration.ingest",
    "innovation_pipeline.orchestration.marts",
)

for _module in PRELOADED:
    importlib.import_module(_module)
