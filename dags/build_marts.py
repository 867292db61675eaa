"""Airflow marts DAG (``build_marts``): dbt via Cosmos, GX validation and the data-quality report.

Scheduled on the raw Assets the ingest DAGs update. Built by ``innovation_pipeline.orchestration``;
this file only registers it.
"""

from innovation_pipeline.orchestration import marts_dags

globals().update(marts_dags())
