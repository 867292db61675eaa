"""Process environment for tests: pointing ``WAREHOUSE_URL`` at a database for a while, and a
module's own pipeline environment that is put back afterwards (the end-to-end modules)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@contextmanager
def pointed_at(url: str) -> Iterator[str]:
    """``WAREHOUSE_URL`` is ``url`` while the block runs, then what it was."""
    with restored_environment():
        os.environ["WAREHOUSE_URL"] = url
        yield url


@contextmanager
def restored_environment() -> Iterator[None]:
    """Whatever the block sets or removes in ``os.environ`` is put back as it was."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@dataclass
class PipelineEnvironment:
    """A database of a module's own (``url``) and the environment the module's pipeline runs in."""

    url: str

    def use(self, **variables: str) -> None:
        """Point the warehouse at this module's database, set ``variables`` (folders, a project),
        and the connection variables every task process needs (``WAREHOUSE_*`` for dbt's profile,
        ``AIRFLOW_CONN_WAREHOUSE``)."""
        from innovation_pipeline.warehouse import export_environment

        os.environ.update(WAREHOUSE_URL=self.url, **variables)
        os.environ.update(export_environment())
