"""Run Airflow 3 components as real processes for end-to-end tests, and always stop them.

``CeleryCluster`` starts what a CeleryExecutor deployment needs (API server, scheduler, DAG
processor, one ``airflow celery worker``) against a Redis broker and a PostgreSQL metadata
database, each process in its own session so that a process-group kill also reaches the task
processes it forked. Every wait is bounded and fails with the tail of each component's log, so a
broken component shows up as a readable failure, not a hang.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import URLError
from urllib.request import urlopen

import psycopg

from innovation_pipeline.warehouse import ConnectionParts, parse_url

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
T = TypeVar("T")


class ClusterError(AssertionError):
    """A component died or a wait ran out; the message carries the components' log tails."""


def redis_ping(host: str = "127.0.0.1", port: int = 6379, timeout: float = 3.0) -> None:
    """Raise ``ClusterError`` unless a Redis server answers PING at host:port within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        raise ClusterError(
            f"Redis is not reachable at {host}:{port} ({exc}); the Celery test needs it"
        ) from exc
    # +PONG without auth; -NOAUTH when the server wants a password this test does not have.
    if not reply.startswith(b"+PONG"):
        raise ClusterError(f"{host}:{port} did not answer PING like Redis: {reply!r}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def survivors_after(pids: list[int], timeout: float = 30) -> list[str]:
    """Those of ``pids`` still running once they had up to ``timeout`` seconds to exit (a process
    signalled to stop may take a while on a loaded machine)."""
    deadline = time.monotonic() + timeout
    alive = survivors(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = survivors(pids)
    return alive


@dataclass
class Component:
    """One started Airflow process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None


def stop_process_tree(popen: subprocess.Popen[bytes], grace: float = 15.0) -> list[int]:
    """SIGTERM the process's group and every descendant, then SIGKILL what is left after ``grace``;
    the pids found, so a caller can check that none survived (the package's ``stop_tree``)."""
    from innovation_pipeline.orchestration.local_airflow import stop_tree

    return stop_tree(popen, grace=grace)


def survivors(pids: list[int]) -> list[str]:
    """Those of ``pids`` still running (zombies count as gone), described for a failure message."""
    import psutil

    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


@dataclass
class CeleryCluster:
    """Airflow on the CeleryExecutor, all components as child processes of the test."""

    home: Path
    dags_folder: Path
    metadata_url: str  # SQLAlchemy URL, postgresql+psycopg2://
    result_backend: str  # db+postgresql://
    metadata_conninfo: str  # the same database as a libpq URL, for the test's own queries
    broker_url: str = "redis://127.0.0.1:6379/0"
    queue: str = field(default_factory=lambda: f"pytest-{secrets.token_hex(4)}")
    extra_env: Mapping[str, str] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    stopped_pids: list[int] = field(default_factory=list)
    stop_seconds: dict[str, float] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    #: Paused DAGs are not scheduled: a test unpauses only the DAGs it runs (a real dags/ folder
    #: holds many DAGs with schedules, whose runs would compete for the two cores).
    paused_at_creation: bool = False
    worker_concurrency: int = 2
    #: Modules the worker imports before it forks its pool (Celery's ``imports``), as the
    #: compose file's workers do; its task processes inherit them.
    worker_imports: tuple[str, ...] = ()

    @property
    def worker_node(self) -> str:
        """The Celery node name of the worker (``--celery-hostname``), as Celery reports it."""
        return f"{self.queue}@{socket.gethostname()}"

    @property
    def transform_queue(self) -> str:
        """A second queue the worker serves, standing in for PIPELINE_TRANSFORM_QUEUE."""
        return f"{self.queue}-transform"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.paused_at_creation),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.result_backend,
                # The result backend records which worker node ran each task.
                "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps(self._celery_config()),
                # A queue of our own: another run sharing the Redis server cannot take our tasks.
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "PIPELINE_TRANSFORM_QUEUE": self.transform_queue,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                # Shared by every component, as in docker-compose.yml: task tokens must validate.
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._log_port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                # As the compose file sets it: a task's slot is free a second after it ended, not five.
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
                "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
                "AIRFLOW__COSMOS__CACHE_DIR": str(self.home / "cosmos_cache"),
            }
        )
        return env

    def _celery_config(self, worker: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = {"result_extended": True}
        if worker and self.worker_imports:
            config["imports"] = list(self.worker_imports)
        return config

    def __post_init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._log_port = free_port()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

    def _secret(self, name: str) -> str:
        return self._secrets.setdefault(name, secrets.token_hex(32))

    # --- processes -------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run one ``airflow`` CLI command with the cluster's settings; its stdout."""
        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def preflight(self) -> None:
        """Fail clearly, before starting anything, if the CeleryExecutor cannot even be imported.

        (celery 5.7.0 removed ``celery.backends.database.retry``, which the Celery provider imports.)
        """
        probe = "import celery, airflow.providers.celery.executors.celery_executor_utils"
        result = subprocess.run(
            [sys.executable, "-c", probe], env=self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            version = subprocess.run(
                [sys.executable, "-c", "import celery; print(celery.__version__)"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=300,
            ).stdout.strip()
            raise ClusterError(
                f"the CeleryExecutor does not import with celery {version or '?'}:\n"
                + "\n".join(result.stderr.strip().splitlines()[-3:])
            )

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Component:
        log = self.home / "logs" / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            [AIRFLOW, *args],
            env={**self.env, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole in stop()
        )
        handle.close()
        component = Component(name, popen, log)
        self.components.append(component)
        return component

    def start_all(self) -> None:
        """Migrate the metadata DB, then start API server, scheduler, DAG processor and a worker."""
        self.preflight()
        self.cli("db", "migrate", timeout=900)
        self.start("api-server", "api-server", "--port", str(self.api_port), "--host", "127.0.0.1")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.start(
            "celery-worker",
            "celery",
            "worker",
            "--queues",
            f"{self.queue},{self.transform_queue}",
            "--concurrency",
            str(self.worker_concurrency),
            "--celery-hostname",
            self.worker_node,
            env={"AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps(self._celery_config(worker=True))},
        )
        self.wait_until(self._api_up, timeout=300, what="the API server to answer /api/v2/version")

    def stop(self) -> None:
        """Stop every component started, newest first; safe to call twice."""
        while self.components:
            component = self.components.pop()
            began = time.monotonic()
            self.stopped_pids += stop_process_tree(component.popen)
            self.stop_seconds[component.name] = round(time.monotonic() - began, 1)
        self.forget_queues()

    def forget_queues(self) -> None:
        """Delete this cluster's queues and kombu bindings from Redis, so runs leave no trace."""
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_timeout=3)
        try:
            for queue in (self.queue, self.transform_queue):
                keys = [queue, *client.keys(f"_kombu.binding*.{queue}")]
                client.delete(*keys)
        except redis.RedisError:
            pass  # cleanup only: never hide the test's own outcome behind it
        finally:
            client.close()

    def worker(self) -> Component:
        return next(c for c in self.components if c.name == "celery-worker")

    # --- runs ------------------------------------------------------------------------------------

    def query(self, statement: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from Airflow's metadata database (read-only use: the components own it)."""
        import psycopg

        with psycopg.connect(self.metadata_conninfo, autocommit=True) as conn:
            return conn.execute(statement, params).fetchall()

    def wait_for_dag(self, dag_id: str, timeout: float = 600) -> None:
        """Wait until the DAG processor has parsed and registered ``dag_id``."""
        self.wait_until(
            lambda: self.query("select 1 from dag where dag_id = %s and not is_stale", (dag_id,)),
            timeout=timeout,
            what=f"the DAG processor to register {dag_id}",
        )

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a run with ``airflow dags trigger``; returns its run_id."""
        run_id = f"pytest__{secrets.token_hex(4)}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if conf:
            args += ["--conf", json.dumps(conf)]
        self.cli(*args)
        return run_id

    def unpause(self, *dag_ids: str) -> None:
        """Unpause DAGs (once registered), so the scheduler runs them."""
        for dag_id in dag_ids:
            self.cli("dags", "unpause", dag_id)

    def wait_for_new_run(self, dag_id: str, timeout: float = 600) -> tuple[str, str]:
        """Wait until ``dag_id`` has a run (e.g. one an Asset event created); its (run_id, run_type)."""

        def created() -> tuple[str, str] | None:
            sql = "select run_id, run_type from dag_run where dag_id = %s order by id limit 1"
            rows = self.query(sql, (dag_id,))
            return (str(rows[0][0]), str(rows[0][1])) if rows else None

        return self.wait_until(created, timeout=timeout, what=f"a run of {dag_id} to be created")

    def wait_until_idle(self, dag_id: str, timeout: float = 600) -> None:
        """Wait until ``dag_id`` has no run in progress and none due to be created right now.

        Unpausing a scheduled DAG makes the scheduler create the run of its latest interval at
        once (even with ``catchup=False``); a test waits that run out before staging its files.
        """

        def idle() -> bool:
            rows = self.query(
                "select not exists (select 1 from dag_run where dag_id = %s and state in"
                " ('queued', 'running')) and coalesce((select next_dagrun_create_after > now()"
                " from dag where dag_id = %s), true)",
                (dag_id, dag_id),
            )
            return bool(rows[0][0])

        time.sleep(5)  # a scheduler loop, so that a run due now has been created
        self.wait_until(idle, timeout=timeout, what=f"{dag_id} to have no run due or in progress")

    def run_state(self, dag_id: str, run_id: str | None = None) -> str | None:
        """State of a run, or of the newest run of ``dag_id`` when no run_id is given."""
        if run_id:
            sql = "select state from dag_run where dag_id = %s and run_id = %s"
            rows = self.query(sql, (dag_id, run_id))
        else:
            sql = "select state from dag_run where dag_id = %s order by id desc limit 1"
            rows = self.query(sql, (dag_id,))
        return rows[0][0] if rows else None

    def wait_for_run(
        self, dag_id: str, run_id: str | None = None, timeout: float = 900, fail_fast: bool = False
    ) -> str:
        """Wait until the run (or the newest run of ``dag_id``, e.g. one an Asset triggered) ends.

        With ``fail_fast``, a task that fails (or waits to be retried) ends the wait at once with
        the run's task instances and the components' logs, instead of after retries and timeouts.
        """

        def ended() -> str | None:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if fail_fast:
                tis = self.task_instances(dag_id, run_id)
                bad = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed", "up_for_retry")]
                if bad:
                    raise ClusterError(f"{dag_id} tasks failed: {bad}\n{self.report()}")
            return None

        return self.wait_until(
            ended, timeout=timeout, what=f"a run of {dag_id} ({run_id or 'newest'}) to end"
        )

    def task_instances(self, dag_id: str, run_id: str | None = None) -> list[dict[str, Any]]:
        """The run's task instances: task_id, map_index, state, queue, pool, hostname, celery_id,
        operator."""
        run_id = (
            run_id
            or self.query("select run_id from dag_run where dag_id = %s order by id desc limit 1", (dag_id,))[
                0
            ][0]
        )
        rows = self.query(
            "select task_id, map_index, state, queue, pool, hostname, external_executor_id, operator"
            " from task_instance where dag_id = %s and run_id = %s order by task_id, map_index",
            (dag_id, run_id),
        )
        keys = ("task_id", "map_index", "state", "queue", "pool", "hostname", "celery_id", "operator")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def task_durations(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """How the run's time went: task count, wall time, task seconds (median, mean, max), the
        seconds tasks waited from queued to running (median, max), and the slowest tasks."""
        import statistics

        rows = self.query(
            "select task_id, extract(epoch from end_date - start_date),"
            " extract(epoch from start_date - queued_dttm),"
            " extract(epoch from max(end_date) over () - min(start_date) over ())"
            " from task_instance where dag_id = %s and run_id = %s and end_date is not null",
            (dag_id, run_id),
        )
        if not rows:
            return {}
        took = sorted((float(r[1] or 0), str(r[0])) for r in rows)
        waited = [float(r[2] or 0) for r in rows]
        return {
            "tasks": len(rows),
            "wall": round(float(rows[0][3] or 0), 1),
            "median": round(statistics.median(t for t, _ in took), 1),
            "mean": round(statistics.fmean(t for t, _ in took), 1),
            "max": round(took[-1][0], 1),
            "queued_median": round(statistics.median(waited), 1),
            "queued_max": round(max(waited), 1),
            "slowest": [(task, round(t, 1)) for t, task in took[-5:]],
        }

    def celery_results(self, celery_ids: list[str], timeout: float = 180) -> dict[str, tuple[str, str]]:
        """Celery's own (status, worker node name) of each task id, once all have settled.

        The result backend keeps the node name because the cluster sets Celery's
        ``result_extended``. A run turns green when its last task reports to the API server, a
        moment before the Celery task itself returns and its result reaches the result backend:
        hence the wait.
        """

        def settled() -> dict[str, tuple[str, str]] | None:
            rows = self.query("select task_id, status, worker from celery_taskmeta")
            results = {str(k): (str(v), str(w)) for k, v, w in rows}
            done = all(results.get(i, ("",))[0] in ("SUCCESS", "FAILURE") for i in celery_ids)
            return {i: results[i] for i in celery_ids} if done else None

        return self.wait_until(settled, timeout=timeout, what="Celery results for the run's tasks")

    # --- waiting ---------------------------------------------------------------------------------

    def _api_up(self) -> bool:
        try:
            with urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/version", timeout=2) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    def report(self) -> str:
        """Each component's state and log tail, for failure messages."""
        parts = []
        for c in self.components:
            state = "running" if c.alive() else f"exited {c.popen.returncode}"
            parts.append(f"--- {c.name} ({state}) {c.log}\n{tail(c.log)}")
        return "\n".join(parts)

    def wait_until(self, check: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
        """Poll ``check`` until it returns something truthy; fail early if a component dies."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            dead = [c for c in self.components if not c.alive()]
            if dead:
                names = ", ".join(c.name for c in dead)
                raise ClusterError(f"{names} exited while waiting for {what}\n{self.report()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.report()}")
            time.sleep(interval)


@contextmanager
def celery_cluster(**kwargs: Any) -> Iterator[CeleryCluster]:
    """A started ``CeleryCluster``; every process it started is stopped on exit, even on failure."""
    cluster = CeleryCluster(**kwargs)
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def scratch_database(server_url: str, prefix: str = "airflow_meta") -> Iterator[ConnectionParts]:
    """A new database on the server behind ``server_url``, dropped afterwards."""
    from psycopg import sql

    base = parse_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield base.with_dbname(name)
    finally:
        with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
