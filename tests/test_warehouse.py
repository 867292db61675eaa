"""The one place that knows where the warehouse is: embedded by default, WAREHOUSE_URL otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from innovation_pipeline import warehouse
from innovation_pipeline.warehouse import ConnectionParts, parse_url

TCP_URL = os.environ.get("TEST_TCP_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def test_socket_and_tcp_urls_round_trip():
    sock = parse_url("postgresql://postgres@/warehouse?host=%2Fsrv%2Fpg%20data&port=5433")
    assert sock == ConnectionParts("/srv/pg data", 5433, "postgres", "", "warehouse")
    assert parse_url(sock.url()) == sock
    tcp = parse_url("postgresql://loader:s%40cret@db.example:6543/wh")
    assert (tcp.host, tcp.port, tcp.user, tcp.password, tcp.dbname) == (
        "db.example",
        6543,
        "loader",
        "s@cret",
        "wh",
    )
    assert parse_url(tcp.url()) == tcp
    assert "s@cret" not in tcp.redacted() and "s%40cret" not in tcp.redacted()
    with pytest.raises(ValueError):
        parse_url("mysql://x@y/z")


def test_every_consumer_takes_settings_from_warehouse_url(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://analyst:pw@10.1.2.3:5544/marts_db")
    env = warehouse.export_environment()
    assert env["WAREHOUSE_HOST"] == "10.1.2.3" and env["WAREHOUSE_PORT"] == "5544"
    assert env["WAREHOUSE_DB"] == "marts_db" and env["WAREHOUSE_USER"] == "analyst"
    assert env["AIRFLOW_CONN_WAREHOUSE"] == "postgres://analyst:pw@10.1.2.3:5544/marts_db"
    assert warehouse.sqlalchemy_url().startswith("postgresql+psycopg://analyst:pw@10.1.2.3:5544/marts_db")


def test_airflow_connection_reaches_a_socket_warehouse(warehouse_url, monkeypatch):
    from airflow.models.connection import Connection

    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    conn = Connection(uri=warehouse.airflow_conn_uri())
    parts = parse_url(warehouse_url)
    assert (conn.host, conn.port, conn.schema) == (parts.host, parts.port, parts.dbname)
    with psycopg.connect(host=conn.host, port=conn.port, user=conn.login, dbname=conn.schema) as pg:
        assert pg.execute("select current_database()").fetchone()[0] == parts.dbname


def test_embedded_server_outlives_the_process_that_started_it(tmp_path):
    data = tmp_path / "pgdata"
    env = {**os.environ, "WAREHOUSE_DATA_DIR": str(data)}
    env.pop("WAREHOUSE_URL", None)
    start = subprocess.run(
        [sys.executable, "-m", "innovation_pipeline.cli", "warehouse", "url"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert str(data) in start.stdout.replace("%2F", "/")
    try:
        # The first process has exited; a second one finds the same server still running.
        parts = warehouse.ConnectionParts(str(data), 5432, "postgres", "", "warehouse")
        with psycopg.connect(parts.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        assert warehouse.stop_embedded(data)
    assert not warehouse.stop_embedded(data)


def _tcp_reachable() -> bool:
    parts = parse_url(TCP_URL)
    try:
        with socket.create_connection((parts.host, parts.port), timeout=2):
            return True
    except OSError:
        return False


def test_a_tcp_server_from_warehouse_url_is_used_for_loading(tmp_path, real_co_file):
    """CI machines have PostgreSQL on 127.0.0.1:5432; CI must keep that path working too."""
    if not _tcp_reachable():
        if os.environ.get("CI"):
            pytest.fail(
                f"CI must exercise a TCP warehouse but {parse_url(TCP_URL).redacted()} is unreachable"
            )
        pytest.skip("no PostgreSQL on TCP here")
    from psycopg import sql

    base = parse_url(TCP_URL)
    dbname = f"tcp_{os.getpid()}"
    with psycopg.connect(base.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = base.with_dbname(dbname).url()
    env = {**os.environ, "WAREHOUSE_URL": url, "PIPELINE_DATA_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "innovation_pipeline.cli",
                "load",
                str(root / "programs/co_chronic_absenteeism.yml"),
                str(real_co_file),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stderr
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from raw.co_chronic_absenteeism").fetchone()[0] == 186
    finally:
        with psycopg.connect(base.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
