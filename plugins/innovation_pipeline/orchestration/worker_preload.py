"""Imports a process that forks task processes makes once, so that its tasks do not repeat them.

Airflow 3's Celery worker runs each task in a process forked from one of its pool processes, and
the LocalExecutor forks each task from the scheduler, so a task process starts with every module
its parent had already imported. A dbt task of ``build_marts`` otherwise imports dbt
(``dbt.cli.main`` and the postgres adapter) and Cosmos's operators on each start, a Great
Expectations task imports GX, and every task loads the report plugin with Airflow's plugins (the
README's "What a worker spends on a marts task"). Celery's ``imports`` setting makes a worker
import this module before it forks its pool::

    AIRFLOW__CELERY__EXTRA_CELERY_CONFIG='{"imports": ["innovation_pipeline.orchestration.worker_preload"]}'

(docker-compose.yml sets it for its ``airflow-worker`` services); ``make airflow`` starts its
scheduler and DAG processor through :mod:`.preloaded_airflow`, which imports it first. The module
only imports: no connection, thread or file is opened, so forking after it is safe. The API server
never loads it.
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
