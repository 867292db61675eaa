"""``make airflow``: Airflow's components on one machine, started and stopped as one.

Instead of ``airflow standalone`` (which spawns ``airflow`` from ``PATH``, so it fails unless the
virtualenv is activated, and leaves its scheduler and executor workers running after Ctrl-C), this
starts the venv's own ``airflow`` for the API server, scheduler, DAG processor and triggerer, each
in a process group of its own, with the project's settings and:

- a PostgreSQL metadata database (``airflow`` on the warehouse's server, the embedded one by
  default), because several processes write to it at once, which SQLite does not take;
- the LocalExecutor sized to the machine (``PARALLELISM``: one task per core, at least two);
- every DAG unpaused when it first appears: the ingest DAGs run on their schedule (the first run
  at once) and land what is in their inboxes, and ``build_marts`` runs by itself on their Assets;
- the simple auth manager with one ``admin`` user, whose generated password is printed;
- the scheduler and the DAG processor with Cosmos, dbt and GX imported before they fork their
  task and parsing processes (:mod:`.preloaded_airflow`);
- Ctrl-C or SIGTERM stops every component and every task process they started.

Each component logs to ``$AIRFLOW_HOME/logs/<component>.log``; the console shows this module's
lines only.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
METADATA_DATABASE = "airflow"
ADMIN_USER = "admin"


def airflow_binary() -> str:
    """The ``airflow`` of this interpreter's environment, not whichever is first on ``PATH``."""
    return str(Path(sys.executable).with_name("airflow"))


#: Components whose child processes run tasks or parse DAGs: started with the task modules
#: imported first (:mod:`.preloaded_airflow`), so each fork does not import them again.
PRELOADED_COMPONENTS = ("scheduler", "dag-processor")


def component_command(name: str) -> list[str]:
    """The command line that starts one Airflow component."""
    if name in PRELOADED_COMPONENTS:
        return [sys.executable, "-m", "innovation_pipeline.orchestration.preloaded_airflow", name]
    return [airflow_binary(), name]


def parallelism(cores: int | None = None) -> int:
    """Task processes at once: one per core, at least two (Airflow's default of 32 swamps a laptop)."""
    return max(2, cores if cores is not None else (os.cpu_count() or 2))


def metadata_url() -> str:
    """Airflow's metadata database: ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``, else ``airflow`` on the
    warehouse's server (created if missing)."""
    configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if configured:
        return configured
    from innovation_pipeline.warehouse import connection_parts, ensure_database

    server = connection_parts()
    ensure_database(server, METADATA_DATABASE)
    return server.with_dbname(METADATA_DATABASE).url("postgresql+psycopg2")


def _stable_secret(home: Path, name: str) -> str:
    # Kept in AIRFLOW_HOME so that a restart keeps UI sessions and task tokens valid.
    path = home / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def local_environment(home: Path, port: int) -> dict[str, str]:
    """Airflow settings of a one-machine deployment; the caller's environment still wins."""
    url = f"http://localhost:{port}"
    settings = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism()),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        # One API worker: each is a full Airflow process, and two cores serve the tasks' calls fine.
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": _stable_secret(home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _stable_secret(home, "api_secret_key"),
        # On a first start every DAG's first run starts at once, and on two busy cores the API
        # server took over 5 s (the default) to answer a task's start call: the task failed while
        # still queued and was retried (list_new_files, in the first-start test). Tasks wait longer
        # for the API, and a task whose heartbeat is late is not killed after 5 minutes.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        # The supervisor of a task notices that its task process has ended only when its wait
        # between heartbeats runs out (up to this interval; default 5 s), so most tasks held their
        # slot, and their downstream tasks waited, seconds after they had finished. A heartbeat a
        # second is one small API call per running task.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "1800",
        # A new or edited contract shows up within a minute, not five.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }
    return {key: value for key, value in settings.items() if key not in os.environ}


def password_file(home: Path) -> Path:
    """Where the simple auth manager writes the generated passwords."""
    configured = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else home / "simple_auth_manager_passwords.json.generated"


def admin_password(home: Path) -> str | None:
    """The generated password of the admin user, once the API server has written it."""
    import json

    try:
        return str(json.loads(password_file(home).read_text(encoding="utf-8"))[ADMIN_USER])
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class Component:
    """One started Airflow component and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def stop_tree(popen: subprocess.Popen[bytes], grace: float = 20.0) -> list[int]:
    """SIGTERM the component's process group and every descendant, SIGKILL what is left after
    ``grace`` seconds; the pids found, so a caller can check none survived."""
    import psutil

    try:
        family = [psutil.Process(popen.pid), *psutil.Process(popen.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for send in (lambda: os.killpg(popen.pid, signal.SIGTERM), *(p.terminate for p in family)):
        try:
            send()
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass  # already gone
    _, alive = psutil.wait_procs(family, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    psutil.wait_procs(alive, timeout=5)
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    return [p.pid for p in family]


@dataclass
class LocalAirflow:
    """The components of a one-machine Airflow, as child processes of this one."""

    env: Mapping[str, str]
    home: Path
    port: int
    say: Callable[[str], None] = print
    components: list[Component] = field(default_factory=list)
    stopped_pids: list[int] = field(default_factory=list)

    def migrate(self) -> None:
        """``airflow db migrate`` (idempotent; a minute the first time, seconds after)."""
        log = self.home / "logs" / "db-migrate.log"
        with log.open("wb") as handle:
            done = subprocess.run(
                [airflow_binary(), "db", "migrate"],
                env=dict(self.env),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed; see {log}")

    def start(self) -> None:
        """Start every component, each in its own session (so one signal reaches all its processes)."""
        for name in COMPONENTS:
            log = self.home / "logs" / f"{name}.log"
            with log.open("ab") as handle:
                popen = subprocess.Popen(
                    component_command(name),
                    env=dict(self.env),
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.components.append(Component(name, popen, log))

    def dead(self) -> Component | None:
        """A component that exited, if any."""
        return next((c for c in self.components if c.popen.poll() is not None), None)

    def api_up(self) -> bool:
        try:
            with urlopen(f"http://localhost:{self.port}/api/v2/version", timeout=5) as response:
                return bool(response.status == 200)
        except (URLError, OSError):
            return False

    def wait_ready(self, timeout: float = 600) -> None:
        """Until the API server answers; raises if a component dies first or the time runs out."""
        deadline = time.monotonic() + timeout
        while not self.api_up():
            dead = self.dead()
            if dead is not None:
                raise RuntimeError(f"the {dead.name} exited with {dead.popen.returncode}; see {dead.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not answer within {timeout:.0f}s; see the logs")
            time.sleep(2)

    def stop(self) -> None:
        """Stop every component, newest first, and every process it started; safe to call twice."""
        while self.components:
            component = self.components.pop()
            self.stopped_pids += stop_tree(component.popen)


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def run(port: int | None = None) -> int:
    """Start Airflow with the project's settings and keep it running until Ctrl-C or SIGTERM."""
    from innovation_pipeline.orchestration.dbt_project import ensure_manifest
    from innovation_pipeline.settings import airflow_environment

    port = port or int(os.environ.get("AIRFLOW__API__PORT") or 8080)
    if not _free(port):
        print(
            f"port {port} is in use (another Airflow?); set AIRFLOW__API__PORT to use another",
            file=sys.stderr,
        )
        return 1
    base = airflow_environment()
    home = Path(base["AIRFLOW_HOME"])
    (home / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **base, **local_environment(home, port)}
    # The dbt manifest below is made with the same settings (cache folder, warehouse) as the tasks.
    os.environ.update(base)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url()
    # Components and tasks spawn `airflow` and `dbt` by name: the venv's, activated or not.
    env["PATH"] = os.pathsep.join([str(Path(airflow_binary()).parent), env.get("PATH", "")])
    airflow = LocalAirflow(env, home, port)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # Explicitly: a process started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    began = time.monotonic()
    try:
        print(f"[airflow] migrating the metadata database (component logs in {home / 'logs'})", flush=True)
        airflow.migrate()
        print(f"[airflow] dbt manifest: {ensure_manifest()}", flush=True)
        airflow.start()
        print(f"[airflow] starting {', '.join(COMPONENTS)} ...", flush=True)
        airflow.wait_ready()
        password = admin_password(home)
        print(f"[airflow] ready in {time.monotonic() - began:.0f}s: http://localhost:{port}", flush=True)
        print(
            f"[airflow] log in as {ADMIN_USER}, password {password or '(not written yet)'}"
            f" (from {password_file(home)})",
            flush=True,
        )
        print("[airflow] Ctrl-C stops every component", flush=True)
        while (dead := airflow.dead()) is None:
            time.sleep(2)
        print(
            f"[airflow] the {dead.name} exited with {dead.popen.returncode}; see {dead.log}", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print("\n[airflow] stopping ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"[airflow] {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        airflow.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("[airflow] stopped", flush=True)
