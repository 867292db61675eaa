"""Airflow ingest DAGs: one per submission contract in ``programs/*.yml`` (``ingest_<source>``).

The DAGs are built by ``innovation_pipeline.orchestration``; this file only registers them.
Onboarding a program is adding a contract: the DAG appears after the next parse.
(Airflow's safe-mode parser reads only files that mention both "airflow" and "dag", as this does.)
"""

from innovation_pipeline.orchestration import ingest_dags

globals().update(ingest_dags())
