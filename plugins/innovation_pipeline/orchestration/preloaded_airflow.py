"""``airflow <component>`` with the task modules imported first (``python -m`` this module).

With the LocalExecutor every task process is a fork of the scheduler (the executor's workers are
forked from it, and each task is forked from a worker). A task process therefore starts with
whatever the scheduler had imported, and imports the rest itself: Cosmos and dbt for every node
task of ``build_marts``, Great Expectations for every validate task, each import seconds long on
every task. The scheduler started through this module imports them once
(:mod:`.worker_preload`, the same list a Celery worker preloads), so its task processes skip them;
the DAG processor's parsing processes, forked the same way, skip Cosmos too. Nothing is opened
while importing (no connection, thread or file), so forking afterwards is safe.

``local_airflow`` (``make airflow``, the demo's scheduler tests) starts the scheduler and the DAG
processor this way.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Import the preloaded modules, then run Airflow's own command line with our arguments."""
    import importlib

    importlib.import_module("innovation_pipeline.orchestration.worker_preload")
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
