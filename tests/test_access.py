"""Roles in a real PostgreSQL: each role connects and shows what it can and cannot read or write,
and a state-scoped role sees only its state's mart rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from innovation_pipeline.access import ensure_roles, publish_marts, state_role
from innovation_pipeline.landing import ensure_landing_schema
from innovation_pipeline.warehouse import ConnectionParts, parse_url

LOGINS = {
    "t_loader": "pipeline_loader",
    "t_transformer": "pipeline_transformer",
    "t_analyst": "pipeline_analyst",
    "t_officer": "pipeline_officer",
}


@pytest.fixture(scope="module")
def roles(warehouse_url: str) -> dict[str, str]:
    """Login roles for each group; the embedded server trusts local connections, as CI's does."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        ensure_landing_schema(conn)
        ensure_roles(conn)
        ensure_roles(conn)  # idempotent
        co = state_role(conn, "CO")
        logins = {**LOGINS, "t_analyst_co": co}
        for login, group in logins.items():
            if not conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone():
                conn.execute(sql.SQL("create role {} login").format(sql.Identifier(login)))
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(login)))
        conn.execute("create table if not exists dq.probe (run_id int, note text)")
        conn.execute("insert into dq.probe values (1, 'dq row')")
        conn.execute(
            "insert into audit.files values ('probe', 1, 'probe.csv', '/dev/null') on conflict do nothing"
        )
    base = parse_url(warehouse_url)
    return {login: ConnectionParts(base.host, base.port, login, "", base.dbname).url() for login in logins}


def can(url: str, statement: str) -> bool:
    try:
        with psycopg.connect(url) as conn:
            conn.execute(statement)
            conn.rollback()
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def test_transformer_builds_a_mart_and_scoped_analyst_sees_only_its_state(roles, warehouse_url):
    with psycopg.connect(roles["t_transformer"], autocommit=True) as conn:
        conn.execute("drop table if exists marts.probe_outcomes")
        conn.execute("create table marts.probe_outcomes (state text, district_id text, enrollment int)")
        conn.execute(
            "insert into marts.probe_outcomes values ('CO', 'CO-0010', 100), ('KY', 'KY-001', 50), ('CO', 'CO-0020', 7)"
        )
        assert conn.execute("select count(*) from audit.files").fetchone()[0] >= 1
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert "marts.probe_outcomes" in publish_marts(conn)

    def states(login: str) -> list[str]:
        with psycopg.connect(roles[login]) as conn:
            return [
                r[0]
                for r in conn.execute("select state from marts.probe_outcomes order by state, district_id")
            ]

    assert states("t_analyst") == ["CO", "CO", "KY"]
    assert states("t_officer") == ["CO", "CO", "KY"]
    assert states("t_analyst_co") == ["CO", "CO"]


@pytest.mark.parametrize(
    ("login", "statement", "allowed"),
    [
        ("t_loader", "insert into audit.files values ('x1', 1, 'x.csv', '/tmp/x')", True),
        ("t_loader", "select * from audit.submissions", True),
        ("t_loader", "create table raw.loader_probe (a int)", True),
        ("t_loader", "select * from dq.probe", False),
        ("t_loader", "create table marts.loader_probe (a int)", False),
        ("t_transformer", "select * from audit.files", True),
        ("t_transformer", "select * from dq.probe", True),
        ("t_transformer", "insert into audit.files values ('x2', 1, 'x.csv', '/tmp/x')", False),
        ("t_transformer", "create table staging.t_probe (a int)", True),
        ("t_analyst", "select * from marts.probe_outcomes", True),
        ("t_analyst", "select * from audit.files", False),
        ("t_analyst", "select * from audit.quarantine", False),
        ("t_analyst", "select * from dq.probe", False),
        ("t_analyst", "select * from ref.districts", False),
        ("t_analyst", "insert into marts.probe_outcomes values ('CO', 'x', 1)", False),
        ("t_analyst", "create table marts.analyst_probe (a int)", False),
        ("t_officer", "select * from marts.probe_outcomes", True),
        ("t_officer", "select * from dq.probe", True),
        ("t_officer", "select * from audit.quarantine", False),
        ("t_officer", "delete from dq.probe", False),
    ],
)
def test_what_each_role_can_and_cannot_do(roles, login, statement, allowed):
    # Runs after the mart exists (test order within the module).
    assert can(roles[login], statement) is allowed


def test_connection_secrets_never_appear_in_errors_or_logs(tmp_path, real_co_file):
    secret = "Sup3r-S3cret-Pa55"
    env = {
        **os.environ,
        "WAREHOUSE_URL": f"postgresql://nobody:{secret}@127.0.0.1:1/warehouse",
        "PIPELINE_DATA_DIR": str(tmp_path),
    }
    root = Path(__file__).resolve().parents[1]
    runs = [
        [
            sys.executable,
            "-m",
            "innovation_pipeline.cli",
            "-v",
            "load",
            str(root / "programs/co_chronic_absenteeism.yml"),
            str(real_co_file),
        ],
        [sys.executable, "-m", "innovation_pipeline.cli", "warehouse", "url"],
    ]
    for argv in runs:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert secret not in out.stdout + out.stderr
    assert "***" in subprocess.run(runs[1], env=env, capture_output=True, text=True, timeout=60).stdout
