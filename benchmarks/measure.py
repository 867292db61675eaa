"""One measurement, run in its own process so its peak memory is its own.

Kept as one module though it is long: it is the one entry point ``benchmarks.run`` starts for
every method, and each method is a function of its own beside the shared timing helpers.

``benchmarks.run`` starts ``python -m benchmarks.measure <method> ...`` for each loader and reads
the child's own peak RSS (VmHWM); the child times only the work itself (not interpreter
start-up or imports) and prints one JSON line. Every method reads the same CSV file.

Methods:

- ``loader``: ``innovation_pipeline.landing.land_file`` with the benchmark contract (archive,
  contract parsing, mapping, validation, pseudonymization, quarantine, audit and lineage).
- ``copy``: a bare ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the file into a table of text
  columns with psycopg 3, in 1 MiB chunks: no parsing or checking at all, the physical limit.
- ``to_sql``: ``pandas.read_csv`` then ``DataFrame.to_sql`` through SQLAlchemy (psycopg 3 driver),
  ``method=None`` (the default: one ``executemany``), ``chunksize=None``, ``if_exists='replace'``.
- ``insert_rows``: rows from ``csv.reader`` into ``PostgresHook.insert_rows`` with its defaults
  (``commit_every=1000``), the connection from ``AIRFLOW_CONN_WAREHOUSE``.
- ``gx``: ``innovation_pipeline.dq.validate_landing`` of a landed submission.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from psycopg import sql

BENCH_SCHEMA = "bench"
COPY_CHUNK = 1 << 20


def rss_mb() -> float:
    """Peak resident memory of this program so far, in MB.

    ``VmHWM`` (the high-water mark of this process's own address space) rather than ``ru_maxrss``:
    Linux carries a forked child's ``ru_maxrss`` over from its parent's size at the fork, so a
    child of a large parent would report the parent's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_csv(conn: Any, table: Any, path: Path) -> None:
    """``COPY table FROM STDIN (csv, header)`` of a whole file, streamed in COPY_CHUNK blocks."""
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(sql.SQL("copy {} from stdin (format csv, header true)").format(table)) as copy:
            with path.open("rb") as fh:
                while chunk := fh.read(COPY_CHUNK):
                    copy.write(chunk)


def emit_result(out: dict[str, Any], with_peak: bool = True) -> None:
    """A child's result as the line ``benchmarks.run`` reads (``BENCH_RESULT {json}``), with the
    child's own peak memory unless the caller set it."""
    if with_peak:
        out["self_peak_rss_mb"] = rss_mb()
    sys.stdout.write("BENCH_RESULT " + json.dumps(out, default=str) + "\n")


def _text_table(conn: Any, table: str, columns: list[str]) -> sql.Composed:
    """A fresh table of text columns named like the CSV header."""
    ident = sql.Identifier(BENCH_SCHEMA, table)
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(BENCH_SCHEMA)))
    conn.execute(sql.SQL("drop table if exists {}").format(ident))
    conn.execute(
        sql.SQL("create table {} ({})").format(
            ident, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns)
        )
    )
    return ident


def _count_and_drop(table: str) -> int:
    """Rows that reached the table; then drop it."""
    import psycopg

    from innovation_pipeline.warehouse import conninfo

    ident = sql.Identifier(BENCH_SCHEMA, table)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        rows = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("drop table {}").format(ident))
    return int(rows)


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _timed(owner: Any, name: str, phases: dict[str, float], key: str | None = None) -> None:
    """Wrap ``owner.name`` (a module's function or a class's method) to add its wall time to
    ``phases[key or name]`` (called once per batch at most)."""
    real = getattr(owner, name)
    key = key or name

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            phases[key] = phases.get(key, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def _cpu_seconds() -> float:
    """CPU time of this process, all its threads (polars' and the COPY writer's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ServerCpu:
    """CPU seconds the PostgreSQL server spends, read from /proc when it runs on this machine:
    its postmaster's own and reaped children's time plus every live child's (backends, WAL writer,
    checkpointer). None when the server is elsewhere or /proc is not readable."""

    def __init__(self) -> None:
        import psycopg

        from innovation_pipeline.warehouse import conninfo

        self.postmaster: int | None = None
        try:
            with psycopg.connect(conninfo(), autocommit=True) as conn:
                backend = conn.execute("select pg_backend_pid()").fetchone()[0]  # type: ignore[index]
                self.postmaster = int(self._stat(backend)[1])
        except (OSError, ValueError, IndexError, psycopg.Error):
            self.postmaster = None
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat(pid: int) -> list[str]:
        # Fields after the command name: state, ppid, ... utime (11), stime (12), cutime (13), cstime (14).
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        try:
            own = self._stat(self.postmaster)
        except OSError:
            return None
        total = sum(int(x) for x in own[11:15])
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = self._stat(int(entry.name))
            except OSError:
                continue
            if int(fields[1]) == self.postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / self.tick


def _cpu_details(cpu0: float, server: ServerCpu, server0: float | None) -> dict[str, Any]:
    """This process's and the server's CPU seconds since ``cpu0``/``server0``."""
    python = _cpu_seconds() - cpu0
    time.sleep(0.2)  # let the postmaster reap a backend that just ended
    after = server.seconds()
    return {
        # Other processes' demand for the cores while this ran (1-minute load average at the end).
        "load_average": round(os.getloadavg()[0], 2),
        "python_cpu_seconds": round(python, 3),
        "server_cpu_seconds": None if after is None or server0 is None else round(after - server0, 3),
    }


def run_loader(path: Path, contract_path: Path, **_: Any) -> dict[str, Any]:
    from innovation_pipeline import checks, copy_stream, duplicates, landing, mapping
    from innovation_pipeline.contracts import load_contract

    # Where the time goes: the loader's own functions, timed per call (a few per batch).
    phases: dict[str, float] = {}
    for owner, name, key in (
        (landing, "file_sha256", None),
        (landing, "archive_file", None),
        (mapping, "map_batch", None),
        (duplicates.KeyTracker, "check", "duplicate_keys"),
        (copy_stream, "_encode_rows", None),
        (copy_stream._RowStream, "_send", "copy_wait"),
        (copy_stream._RowStream, "finish", "copy_finish"),
        (copy_stream._Quarantine, "copy", "quarantine_copy"),
        (checks, "post_load_checks", None),
    ):
        _timed(owner, name, phases, key)
    # The COPY of raw rows: bytes sent and how long the stream was open.
    stream: dict[str, float] = {"bytes": 0}
    send, start_stream, finish = (
        copy_stream._RowStream._send,
        copy_stream._RowStream._start,
        copy_stream._RowStream.finish,
    )

    def counted(self: Any, payload: bytes) -> None:
        stream["bytes"] += len(payload)
        send(self, payload)

    def started(self: Any) -> None:
        stream["opened"] = time.perf_counter()
        start_stream(self)

    def finished(self: Any) -> None:
        try:
            finish(self)
        finally:
            stream["closed"] = time.perf_counter()

    copy_stream._RowStream._send = counted  # type: ignore[method-assign]
    copy_stream._RowStream._start = started  # type: ignore[method-assign]
    copy_stream._RowStream.finish = finished  # type: ignore[method-assign]
    server = ServerCpu()
    server0, cpu0 = server.seconds(), _cpu_seconds()
    start = time.perf_counter()
    contract = load_contract(contract_path)
    result = landing.land_file(contract, path)
    seconds = time.perf_counter() - start
    cpu = _cpu_details(cpu0, server, server0)
    # The rest: reading and batching the CSV, schema checks, audit statements, commit.
    phases["other (CSV reading and batching, audit, commit)"] = seconds - sum(phases.values())
    return {
        "phases": {k: round(v, 3) for k, v in phases.items()},
        **cpu,
        "copy_bytes": int(stream["bytes"]),
        "copy_stream_seconds": round(stream.get("closed", 0.0) - stream.get("opened", 0.0), 3),
        "file_bytes": path.stat().st_size,
        "rows": result.rows_received,
        "seconds": seconds,
        "status": result.status,
        "submission_id": result.submission_id,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
    }


def run_copy(path: Path, **_: Any) -> dict[str, Any]:
    import psycopg

    from innovation_pipeline.warehouse import conninfo

    server = ServerCpu()
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        table = _text_table(conn, "copy_target", _header(path))
        server0, cpu0 = server.seconds(), _cpu_seconds()
        start = time.perf_counter()
        copy_csv(conn, table, path)
        seconds = time.perf_counter() - start
        cpu = _cpu_details(cpu0, server, server0)
        rows = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("drop table {}").format(table))
    return {"rows": rows, "seconds": seconds, **cpu}


def run_to_sql(path: Path, limit: int | None = None, **_: Any) -> dict[str, Any]:
    import pandas as pd
    import sqlalchemy

    from innovation_pipeline.warehouse import sqlalchemy_url

    engine = sqlalchemy.create_engine(sqlalchemy_url())
    with engine.begin() as conn:
        conn.exec_driver_sql("create schema if not exists " + BENCH_SCHEMA)
    start = time.perf_counter()
    # What a team would write: let pandas infer types, let to_sql create the table.
    frame = pd.read_csv(path, nrows=limit)
    frame.to_sql("to_sql_target", engine, schema=BENCH_SCHEMA, if_exists="replace", index=False, method=None)
    seconds = time.perf_counter() - start
    engine.dispose()
    rows = _count_and_drop("to_sql_target")
    return {"rows": rows, "seconds": seconds, "method": "None (executemany)"}


def run_insert_rows(path: Path, limit: int | None = None, **_: Any) -> dict[str, Any]:
    import psycopg
    from airflow.providers.postgres.hooks.postgres import USE_PSYCOPG3, PostgresHook

    from innovation_pipeline.warehouse import AIRFLOW_CONN_ID, conninfo

    columns = _header(path)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        _text_table(conn, "insert_rows_target", columns)
    # It logs a line per 1000-row commit (to the child's stderr): part of what the hook costs.
    hook = PostgresHook(postgres_conn_id=AIRFLOW_CONN_ID)
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows_iter = itertools.islice(reader, limit) if limit else reader
        hook.insert_rows(
            f"{BENCH_SCHEMA}.insert_rows_target", rows_iter, target_fields=[f'"{c}"' for c in columns]
        )
    seconds = time.perf_counter() - start
    rows = _count_and_drop("insert_rows_target")
    return {
        "rows": rows,
        "seconds": seconds,
        "driver": "psycopg 3" if USE_PSYCOPG3 else "psycopg2",
        "executemany": bool(PostgresHook.supports_executemany),
    }


def _dlt_credentials(parts: Any) -> str:
    """A URL dlt accepts: it insists on a password (the embedded server's socket trusts and
    ignores it) and on a host, and passes a socket folder to libpq in the query string."""
    from urllib.parse import quote, urlencode

    auth = quote(parts.user, safe="") + ":" + quote(parts.password or "unused", safe="")
    if parts.is_socket:
        query = urlencode({"host": parts.host, "port": parts.port})
        return f"postgresql://{auth}@localhost/{quote(parts.dbname, safe='')}?{query}"
    return f"postgresql://{auth}@{parts.host}:{parts.port}/{quote(parts.dbname, safe='')}"


def run_dlt(path: Path, **_: Any) -> dict[str, Any]:
    """dlt's fastest CSV-to-PostgreSQL path: pyarrow reads the CSV in record batches (every column
    a string, as in the bare COPY: typed, the first bad value would stop it), a resource yields
    them, and the postgres destination loads dlt's csv files with COPY (``file_format="csv"``)."""
    import dlt
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from innovation_pipeline.warehouse import connection_parts

    columns = _header(path)
    parts = connection_parts()
    server = ServerCpu()
    work = Path(os.environ.get("PIPELINE_DATA_DIR") or "/tmp") / "dlt"
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    @dlt.resource(name="dlt_target", write_disposition="replace", file_format="csv")
    def batches() -> Any:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}),
        )
        yield from reader

    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        pipelines_dir=str(work),
        destination=dlt.destinations.postgres(credentials=_dlt_credentials(parts)),
        dataset_name=BENCH_SCHEMA + "_dlt",
    )
    server0, cpu0 = server.seconds(), _cpu_seconds()
    start = time.perf_counter()
    info = pipeline.run(batches())
    seconds = time.perf_counter() - start
    cpu = _cpu_details(cpu0, server, server0)
    with psycopg.connect(parts.url(), autocommit=True) as conn:
        ident = sql.Identifier(BENCH_SCHEMA + "_dlt", "dlt_target")
        rows = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(BENCH_SCHEMA + "_dlt")))
    return {
        "rows": rows,
        "seconds": seconds,
        **cpu,
        "version": dlt.__version__,
        "loads": len(info.loads_ids),
    }


#: earthmover's own virtualenv (it pins pandas 2.2, the project pandas 3): ``make bench-peers``.
EARTHMOVER_VENV = Path(__file__).resolve().parent.parent / ".venv-earthmover"
_EARTHMOVER_CONFIG = """\
version: 2
config:
  output_dir: {output}
  tmp_dir: {tmp}
  log_level: WARNING
  show_stacktrace: True
sources:
  credits:
    file: {file}
    header_rows: 1
transformations:
  credits:
    source: $sources.credits
    operations:
      - operation: snake_case_columns
      - operation: map_values
        column: subject_area
        mapping: {mapping}
destinations:
  credits:
    source: $transformations.credits
    template: {template}
    extension: csv
    linearize: True
    header: "{header}\\n"
"""


def _earthmover_files(path: Path, work: Path) -> tuple[Path, list[str]]:
    """earthmover's YAML config and the Jinja template of one CSV output line, in ``work``."""
    from benchmarks.generate import SUBJECTS

    columns = [c.lower().replace(" ", "_") for c in _header(path)]
    work.mkdir(parents=True, exist_ok=True)
    template = work / "credit.csvt"
    # Every value quoted, quotes doubled: a CSV line for COPY (earthmover adds the newline).
    template.write_text(
        ",".join('"{{ ' + c + " | replace('\"', '\"\"') }}\"" for c in columns), encoding="utf-8"
    )
    mapping = {s: s.lower().replace("/", "_").replace(" ", "_") for s in SUBJECTS}
    config = work / "earthmover.yml"
    config.write_text(
        _EARTHMOVER_CONFIG.format(
            output=work / "output",
            tmp=work / "tmp",
            file=path,
            mapping=json.dumps(mapping),
            template=template,
            header=",".join(columns),
        ),
        encoding="utf-8",
    )
    return config, columns


def run_earthmover(path: Path, limit: int | None = None, **_: Any) -> dict[str, Any]:
    """earthmover's transform of the file to CSV (its own process, its own virtualenv), then a
    COPY of its output into a table of text columns, timed together. ``limit``: the first rows
    only, written to a file of their own before the clock starts."""
    import psycopg

    from innovation_pipeline.warehouse import conninfo

    binary = Path(os.environ.get("BENCH_EARTHMOVER") or EARTHMOVER_VENV / "bin" / "earthmover")
    if not binary.exists():
        raise SystemExit(f"earthmover is not installed at {binary}: run `make bench-peers`")
    work = Path(os.environ.get("PIPELINE_DATA_DIR") or "/tmp") / "earthmover"
    if limit:
        work.mkdir(parents=True, exist_ok=True)
        head = work / f"first_{limit}.csv"
        with path.open("rb") as src, head.open("wb") as dst:
            dst.writelines(itertools.islice(src, limit + 1))
        path = head
    config, columns = _earthmover_files(path, work)
    output = work / "output" / "credits.csv"
    server = ServerCpu()
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        table = _text_table(conn, "earthmover_target", columns)
        server0, cpu0 = server.seconds(), _cpu_seconds()
        start = time.perf_counter()
        proc = subprocess.Popen([str(binary), "run", "-c", str(config), "--force"], cwd=work)
        _, status, usage = os.wait4(proc.pid, 0)
        transformed = time.perf_counter()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"earthmover failed ({os.waitstatus_to_exitcode(status)})")
        copy_csv(conn, table, output)
        seconds = time.perf_counter() - start
        cpu = _cpu_details(cpu0, server, server0)
        rows = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("drop table {}").format(table))
    version = subprocess.run([str(binary), "-v"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "rows": rows,
        "seconds": seconds,
        **cpu,
        # Its process's CPU and peak memory: it, not this one, does the transform.
        "python_cpu_seconds": round(cpu["python_cpu_seconds"] + usage.ru_utime + usage.ru_stime, 3),
        "transform_seconds": round(transformed - start, 3),
        "copy_seconds": round(seconds - (transformed - start), 3),
        "output_bytes": output.stat().st_size,
        "peer_peak_rss_mb": usage.ru_maxrss / 1024,
        "version": version,
    }


def run_gx(path: Path, contract_path: Path, submission_id: int | None = None, **_: Any) -> dict[str, Any]:
    from innovation_pipeline.contracts import load_contract
    from innovation_pipeline.dq import validate_landing

    contract = load_contract(contract_path)
    start = time.perf_counter()
    summary = validate_landing(contract, [int(submission_id or 0)])
    seconds = time.perf_counter() - start
    runs = summary.get("runs", [])
    return {
        "rows": None,
        "seconds": seconds,
        "success": summary.get("success"),
        "evaluated": sum(r.get("evaluated") or 0 for r in runs),
        "unsuccessful": sum(r.get("unsuccessful") or 0 for r in runs),
        "failed_checks": [c for r in runs for c in r.get("failed_checks", [])][:10],
        "error": next((r.get("error") for r in runs if r.get("error")), None),
    }


METHODS = {
    "loader": run_loader,
    "copy": run_copy,
    "to_sql": run_to_sql,
    "insert_rows": run_insert_rows,
    "dlt": run_dlt,
    "earthmover": run_earthmover,
    "gx": run_gx,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One benchmark measurement (used by benchmarks.run).")
    parser.add_argument("method", choices=sorted(METHODS))
    parser.add_argument("file", type=Path)
    parser.add_argument("--contract", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="only the first N data rows")
    parser.add_argument("--submission-id", type=int, default=None)
    args = parser.parse_args(argv)
    baseline = rss_mb()
    out = METHODS[args.method](
        args.file, contract_path=args.contract, limit=args.limit, submission_id=args.submission_id
    )
    out["baseline_rss_mb"] = baseline
    # A method run by a program of its own (earthmover) reports that program's peak.
    out["self_peak_rss_mb"] = max(rss_mb(), out.pop("peer_peak_rss_mb", 0.0))
    emit_result(out, with_peak=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
