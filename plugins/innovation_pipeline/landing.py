"""Land one submitted file: archive it, parse it by its contract, COPY good rows to ``raw.<source>``,
quarantine the rest with a readable reason, and record the submission in ``audit``.

This is the one code path for the CLI, the DAGs and the tests. A submission loads in one
transaction (all of its good rows or none), ``received = loaded + quarantined`` is checked before
commit, the same bytes are loaded once, and a corrected resubmission supersedes the earlier one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PureWindowsPath
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from innovation_pipeline import mapping
from innovation_pipeline.contracts import Contract
from innovation_pipeline.crosswalk import Crosswalk, canonical_submitter, load_reference
from innovation_pipeline.marts_snapshot import hold_load_fence
from innovation_pipeline.readers import FileRejected, open_source
from innovation_pipeline.settings import archive_dir, pseudonym_key
from innovation_pipeline.warehouse import conninfo

__all__ = ["FileRejected", "LandingResult", "ensure_landing_schema", "land_file"]

log = logging.getLogger(__name__)
BATCH_ROWS = 50_000
# Batches of CSV waiting for the COPY writer thread; bytes per write to the connection.
STREAM_QUEUE = 2
STREAM_CHUNK = 1 << 20
QUARANTINE_IN_MEMORY = 100_000
# Characters of an unexpected error's text kept in a rejection message.
MESSAGE_DETAIL_LIMIT = 300


@dataclass
class LandingResult:
    """What happened to one file."""

    source: str
    file_name: str
    file_sha256: str
    submission_id: int | None
    status: str
    submitter: str | None = None
    school_year: int | None = None
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    superseded: list[int] = field(default_factory=list)
    message: str = ""

    def summary(self) -> str:
        if self.status == "loaded":
            return (
                f"{self.file_name}: loaded {self.rows_loaded} of {self.rows_received} rows, "
                f"{self.rows_quarantined} quarantined (submission {self.submission_id})"
            )
        return f"{self.file_name}: {self.status}. {self.message}".strip()


def ensure_landing_schema(conn: psycopg.Connection) -> None:
    """Create the audit, ref and raw schemas and tables (idempotent) and load the district directory."""
    ddl = (
        resources.files("innovation_pipeline").joinpath("sql/landing_schema.sql").read_text(encoding="utf-8")
    )
    digest = hashlib.sha256(ddl.encode("utf-8")).hexdigest()
    # DDL only when needed: `create index if not exists` takes a SHARE lock on audit.submissions
    # even when the index exists, so running it per file made every load wait for every load in
    # flight, of any source. A marker of the DDL's content says it ran already.
    if not _landing_schema_current(conn, digest):
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtextextended('innovation.landing_schema', 0))")
            if not _landing_schema_current(conn, digest):
                conn.execute(ddl)
                conn.execute(
                    "insert into ref.reference_versions (name, content_sha256) values ('landing_schema', %s)"
                    " on conflict (name) do update set content_sha256 = excluded.content_sha256, loaded_at = now()",
                    (digest,),
                )
    load_reference(conn)


_LANDING_TABLES = (
    "audit.files",
    "audit.submissions",
    "audit.quarantine",
    "audit.marts_builds",
    "ref.districts",
)


def _landing_schema_current(conn: psycopg.Connection, digest: str) -> bool:
    """Whether the landing DDL of this content ran (and its tables are still there)."""
    present = conn.execute(
        "select bool_and(to_regclass(t) is not null) from unnest(%s::text[]) t",
        ([*_LANDING_TABLES, "ref.reference_versions"],),
    ).fetchone()[0]  # type: ignore[index]
    if not present:
        return False
    row = conn.execute(
        "select content_sha256 from ref.reference_versions where name = 'landing_schema'"
    ).fetchone()
    return row is not None and row[0] == digest


def ensure_raw_table(conn: psycopg.Connection, contract: Contract) -> None:
    """Create ``raw.<source>`` from the contract, adding columns a revised contract introduces."""
    columns = mapping.raw_columns(contract)
    table = sql.Identifier("raw", contract.raw_table)
    if _raw_table_current(conn, contract.raw_table, [n for n, _ in columns]):
        return  # no DDL: `alter table` would lock the table against readers, even as a no-op
    with conn.transaction():
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"innovation.raw.{contract.raw_table}",)
        )
        conn.execute(
            sql.SQL("create table if not exists {} ({})").format(
                table,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
                ),
            )
        )
        for name, pg_type in columns:
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    table, sql.Identifier(name), sql.SQL(pg_type)
                )
            )
        # Tables from before rows stopped carrying the file's hash (it is on audit.submissions).
        conn.execute(
            sql.SQL(
                "do $$ begin if exists (select 1 from information_schema.columns where table_schema = 'raw'"
                " and table_name = {} and column_name = '_file_sha256') then"
                " alter table {} alter column _file_sha256 drop not null; end if; end $$"
            ).format(sql.Literal(contract.raw_table), table)
        )
        # BRIN, not B-tree: a submission's rows arrive in one COPY, so they sit in a run of pages
        # and a block-range index finds them as well, for a fraction of the cost of maintaining a
        # B-tree entry per row (a quarter of the server's work on a 2,000,000-row load). Tables
        # made before keep the B-tree of the same name.
        conn.execute(
            sql.SQL(
                "create index if not exists {} on {} using brin (_submission_id) with (autosummarize = on)"
            ).format(sql.Identifier(f"{contract.raw_table}_submission"), table)
        )


def _raw_table_current(conn: psycopg.Connection, table: str, columns: list[str]) -> bool:
    """Whether ``raw.<table>`` has every column and its index, and no obsolete not-null hash column."""
    row = conn.execute(
        """
        select count(*) filter (where a.attname = any(%(columns)s::text[])) = cardinality(%(columns)s::text[])
               and not bool_or(a.attname = '_file_sha256' and a.attnotnull)
               and to_regclass(format('raw.%%I', %(index)s::text)) is not null
        from pg_attribute a
        where a.attrelid = to_regclass(format('raw.%%I', %(table)s::text)) and a.attnum > 0 and not a.attisdropped
        """,
        {"columns": columns, "table": table, "index": f"{table}_submission"},
    ).fetchone()
    return bool(row and row[0])


def safe_file_name(name: str) -> str:
    """The bare file name: a sender's folders ("../../etc/x.csv", "C:\\x.csv") are not ours to keep."""
    bare = PureWindowsPath(name).name
    return bare if bare not in ("", ".", "..") else "unnamed"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def archive_file(path: Path, sha: str) -> Path:
    """Keep the file unchanged, addressed by its SHA-256 (written once, atomically)."""
    target = archive_dir() / sha[:2] / sha
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # A name of this process and thread: two threads archiving the same bytes at once must not
        # share a temporary file (the second rename would find it gone).
        tmp = target.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return target


def _record_file(conn: psycopg.Connection, sha: str, size: int, name: str, archived: Path) -> None:
    conn.execute(
        "insert into audit.files (file_sha256, size_bytes, original_name, archive_path) values (%s, %s, %s, %s)"
        " on conflict (file_sha256) do nothing",
        (sha, size, name, str(archived)),
    )


def _existing(conn: psycopg.Connection, source: str, sha: str, name: str) -> LandingResult | None:
    """The earlier outcome for this very delivery (same file name and bytes): retries are no-ops."""
    row = conn.execute(
        """
        select submission_id, status, submitter, school_year, rows_received, rows_loaded, rows_quarantined,
               rows_skipped, coalesce(message, ''), reason_code
        from audit.submissions where source = %s and file_sha256 = %s and file_name = %s
        order by submission_id limit 1
        """,
        (source, sha, name),
    ).fetchone()
    if row is None:
        return None
    sub_id, status, submitter, year, received, loaded, quarantined, skipped, message, code = row
    if status == "rejected":
        raise FileRejected(code or "rejected", message)
    return LandingResult(
        source,
        name,
        sha,
        sub_id,
        "loaded" if status == "superseded" else status,
        submitter,
        year,
        received,
        loaded,
        quarantined,
        skipped,
        message=message,
    )


def _key_from_name(contract: Contract, file_name: str) -> dict[str, str]:
    match = contract.matches_file(file_name)
    if match is None:
        raise FileRejected(
            "bad_file_name",
            f"{file_name}: the file name does not match the {contract.source} pattern {contract.file.pattern!r}",
        )
    return {k: v for k, v in match.groupdict().items() if v is not None}


def land_file(
    contract: Contract,
    path: Path,
    *,
    original_name: str | None = None,
    received_at: dt.datetime | None = None,
    batch_rows: int = BATCH_ROWS,
    reprocess: bool = False,
) -> LandingResult:
    """Archive and load one file through its contract; the single code path DAGs and CLI use.

    Returns the result for loaded and duplicate files; records and then raises
    :class:`FileRejected` for a file that cannot be read as its contract says. ``reprocess``
    lands the bytes again as a new version even if they were processed before
    (:mod:`innovation_pipeline.reprocess`).
    """
    path = Path(path)
    name = safe_file_name(original_name or path.name)
    if (contract.school_year.several or contract.school_year.source == "header") and not reprocess:
        from innovation_pipeline.multi_year import land_years

        return land_years(contract, path, name, received_at, batch_rows)
    # A missing key is the deployment's problem, not the file's: refuse before anything is recorded.
    key = pseudonym_key()
    sha = file_sha256(path)
    size = path.stat().st_size
    archived = archive_file(path, sha)
    if received_at is None:
        received_at = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        ensure_landing_schema(conn)
        ensure_raw_table(conn, contract)
        conn.autocommit = False
        try:
            with conn.transaction():
                # A marts snapshot waits for this load to commit or roll back (marts_snapshot.py).
                hold_load_fence(conn)
                # Two tasks handed the same file wait for each other here: a lock, not luck.
                conn.execute(
                    "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"innovation.file.{contract.source}.{sha}",),
                )
                _record_file(conn, sha, size, name, archived)
                previous = None if reprocess else _existing(conn, contract.source, sha, name)
                if previous is not None:
                    log.info("%s was already processed: %s", name, previous.summary())
                    return previous
                duplicate = None if reprocess else _duplicate_of(conn, contract, sha)
                if duplicate is not None:
                    return _record_duplicate(conn, contract, name, sha, received_at, duplicate)
                return _load(conn, contract, archived, name, sha, received_at, batch_rows, key)
        except FileRejected as exc:
            _record_rejection(conn, contract, name, sha, size, archived, received_at, exc)
            log.error("%s rejected: %s", name, exc)
            raise
        except (psycopg.OperationalError, psycopg.ProgrammingError, psycopg.InternalError):
            # The server or the connection went away, or the warehouse is not set up as the loader
            # needs (a privilege, a table): not the file's fault, and a retry may succeed.
            raise
        except Exception as exc:
            # Whatever the bytes hold, the file ends as a recorded submission: a retry of the same
            # bytes would fail the same way, and an unrecorded file is listed as new on every run.
            rejected = unexpected_rejection(name, exc)
            log.exception("%s rejected after an unexpected error", name)
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            _record_rejection(conn, contract, name, sha, size, archived, received_at, rejected)
            raise rejected from exc


def unexpected_rejection(name: str, exc: BaseException) -> FileRejected:
    """A readable rejection for an error the loader did not foresee (the detail capped)."""
    detail = " ".join(str(exc).split())
    if len(detail) > MESSAGE_DETAIL_LIMIT:
        detail = detail[:MESSAGE_DETAIL_LIMIT] + "..."
    return FileRejected(
        "load_failed",
        f"{name}: the file could not be loaded ({type(exc).__name__}: {detail or 'no detail'}); "
        "nothing from it was stored. Check the file against the contract, or send it to the data team.",
    )


def _duplicate_of(conn: psycopg.Connection, contract: Contract, sha: str) -> int | None:
    # Only the current version makes the same bytes a duplicate: re-sending the bytes of a version
    # that was since superseded makes them current again (a revert), as a new submission.
    row = conn.execute(
        "select submission_id from audit.submissions where source = %s and file_sha256 = %s"
        " and status = 'loaded' order by submission_id limit 1",
        (contract.source, sha),
    ).fetchone()
    return row[0] if row else None


def _record_duplicate(
    conn: psycopg.Connection, contract: Contract, name: str, sha: str, received_at: dt.datetime, of: int
) -> LandingResult:
    original = conn.execute(
        "select submitter, school_year, due_date, file_name from audit.submissions where submission_id = %s",
        (of,),
    ).fetchone()
    assert original is not None
    submitter, year, due, first_name = original
    message = f"same content as {first_name} (submission {of}); recorded, not loaded again"
    sub_id = conn.execute(
        """
        insert into audit.submissions (source, program, state, submitter, school_year, file_sha256, file_name,
            received_at, due_date, is_late, status, duplicate_of, reason_code, message)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'duplicate', %s, 'duplicate', %s)
        returning submission_id
        """,
        (
            contract.source,
            contract.program,
            contract.state,
            submitter,
            year,
            sha,
            name,
            received_at,
            due,
            _is_late(received_at, due),
            of,
            message,
        ),
    ).fetchone()[0]  # type: ignore[index]
    log.info("%s: %s", name, message)
    return LandingResult(contract.source, name, sha, sub_id, "duplicate", submitter, year, message=message)


def _record_rejection(
    conn: psycopg.Connection,
    contract: Contract,
    name: str,
    sha: str,
    size: int,
    archived: Path,
    received_at: dt.datetime,
    exc: FileRejected,
) -> None:
    with conn.transaction():
        hold_load_fence(conn)
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"innovation.file.{contract.source}.{sha}",),
        )
        _record_file(conn, sha, size, name, archived)
        if conn.execute(
            "select 1 from audit.submissions where source = %s and file_sha256 = %s and file_name = %s",
            (contract.source, sha, name),
        ).fetchone():
            return
        key = {}
        try:
            key = _key_from_name(contract, name)
        except FileRejected:
            pass
        year = mapping.filename_school_year(contract, key.get("school_year"))
        # The same canonical submitter as a loaded file's (KY-263, not 263); an unknown one as written.
        submitter = canonical_submitter(Crosswalk.from_db(conn), contract, key.get("submitter"), year)[0]
        conn.execute(
            """
            insert into audit.submissions (source, program, state, submitter, school_year, file_sha256, file_name,
                received_at, status, reason_code, message)
            values (%s, %s, %s, %s, %s, %s, %s, %s, 'rejected', %s, %s)
            """,
            (
                contract.source,
                contract.program,
                contract.state,
                submitter or key.get("submitter"),
                year,
                sha,
                name,
                received_at,
                exc.code,
                str(exc),
            ),
        )


def _is_late(received_at: dt.datetime, due: dt.date | None) -> bool | None:
    return None if due is None else received_at.date() > due


def _load(
    conn: psycopg.Connection,
    contract: Contract,
    path: Path,
    name: str,
    sha: str,
    received_at: dt.datetime,
    batch_rows: int,
    pseudonym: bytes,
) -> LandingResult:
    key = _key_from_name(contract, name)
    source = open_source(contract, path, name, batch_size=batch_rows)
    crosswalk = Crosswalk.from_db(conn)
    context = mapping.MappingContext(
        contract=contract,
        source=source,
        crosswalk=crosswalk,
        key=key,
        pseudonym_key=pseudonym,
    )
    context.resolve_filename_parts()
    sub_id = conn.execute(
        """
        insert into audit.submissions (source, program, state, submitter, school_year, file_sha256, file_name,
            received_at, status)
        values (%s, %s, %s, %s, %s, %s, %s, %s, 'received') returning submission_id
        """,
        (
            contract.source,
            contract.program,
            contract.state,
            context.submitter,
            context.school_year,
            sha,
            name,
            received_at,
        ),
    ).fetchone()[0]  # type: ignore[index]
    context.submission_id = sub_id

    received = 0
    tracker = mapping.KeyTracker(context)
    quarantine = _Quarantine()
    # One COPY for all the good rows, fed by a writer thread: the server stores one batch while
    # the next is parsed. Problems wait for it to end (a connection runs one COPY at a time).
    with _RowStream(conn, sql.Identifier("raw", contract.raw_table)) as stream:
        for batch in source.batches():
            received += batch.height
            good, problems = mapping.map_batch(context, batch)
            good, dupes = tracker.check(good)
            stream.put(good)
            quarantine.add(problems)
            quarantine.add(dupes)
    quarantine.copy(conn)
    if received == 0:
        raise FileRejected("no_data_rows", f"{name}: the file has a header but no data rows")
    if received < contract.min_rows:
        raise FileRejected(
            "too_few_rows",
            f"{name}: {received} data rows, fewer than the {contract.min_rows} this source expects",
        )
    mapping.post_load_checks(conn, context, tracker)

    loaded = conn.execute(
        sql.SQL("select count(*) from {} where _submission_id = %s").format(
            sql.Identifier("raw", contract.raw_table)
        ),
        (sub_id,),
    ).fetchone()[0]  # type: ignore[index]
    quarantined = conn.execute(
        "select count(distinct source_row) from audit.quarantine where submission_id = %s", (sub_id,)
    ).fetchone()[0]  # type: ignore[index]
    if received != loaded + quarantined:
        # Nothing is lost: a mismatch aborts the whole submission instead of committing it.
        raise RuntimeError(
            f"{name}: {received} rows received but {loaded} loaded + {quarantined} quarantined; load rolled back"
        )
    due = contract.due.for_school_year(context.school_year) if context.school_year else None
    conn.execute(
        """
        update audit.submissions set status = 'loaded', submitter = %s, school_year = %s, due_date = %s, is_late = %s,
            rows_received = %s, rows_loaded = %s, rows_quarantined = %s, rows_skipped = %s, loaded_at = now()
        where submission_id = %s
        """,
        (
            context.submitter,
            context.school_year,
            due,
            _is_late(received_at, due),
            received,
            loaded,
            quarantined,
            source.stats.rows_skipped,
            sub_id,
        ),
    )
    superseded = _supersede(conn, contract, context.submitter, context.school_year, sub_id)
    result = LandingResult(
        contract.source,
        name,
        sha,
        sub_id,
        "loaded",
        context.submitter,
        context.school_year,
        received,
        loaded,
        quarantined,
        source.stats.rows_skipped,
        superseded,
    )
    log.info(result.summary())
    return result


def _supersede(
    conn: psycopg.Connection, contract: Contract, submitter: str | None, year: int | None, sub_id: int
) -> list[int]:
    """A corrected resubmission replaces the earlier one; the history stays queryable."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"innovation.submission.{contract.source}.{submitter}.{year}",),
    )
    rows = conn.execute(
        """
        update audit.submissions set status = 'superseded', superseded_by = %s
        where source = %s and submitter is not distinct from %s and school_year is not distinct from %s
          and status = 'loaded' and submission_id <> %s
        returning submission_id
        """,
        (sub_id, contract.source, submitter, year, sub_id),
    ).fetchall()
    return [r[0] for r in rows]


def _copy_frame(conn: psycopg.Connection, table: sql.Identifier, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    with conn.cursor() as cur, cur.copy(_copy_statement(table, frame.columns)) as copy:
        copy.write(_encode_rows(frame))


def _copy_statement(table: sql.Identifier, columns: list[str]) -> sql.Composed:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL("copy {} ({}) from stdin (format csv, null '\\N')").format(table, names)


def _encode_rows(frame: pl.DataFrame) -> bytes:
    """A frame as COPY's CSV (no header; null as \\N, never confused with an empty string)."""
    if frame.height == 0:
        return b""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="\\N")
    return buffer.getvalue()


class _RowStream:
    """One ``COPY ... FROM STDIN`` for all of a submission's good rows, written by a thread.

    :meth:`put` hands over one batch as CSV and returns at once unless ``STREAM_QUEUE`` batches
    are already waiting (so memory stays bounded while the server catches up); the thread writes
    them to the connection, which the server turns into rows meanwhile. The COPY opens with the
    first non-empty batch (its columns are the mapped frame's) and ends, waiting for the server,
    when the block exits; an error on either side aborts it and reaches the caller.
    """

    def __init__(self, conn: psycopg.Connection, table: sql.Identifier):
        self.conn = conn
        self.table = table
        self.columns: list[str] = []
        self.rows = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=STREAM_QUEUE)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cursor: psycopg.Cursor | None = None
        self._copy_cm: Any = None

    def __enter__(self) -> _RowStream:
        return self

    def _start(self) -> None:
        self._cursor = self.conn.cursor()
        self._copy_cm = self._cursor.copy(_copy_statement(self.table, self.columns))
        copy = self._copy_cm.__enter__()

        def write() -> None:
            try:
                while (payload := self._queue.get()) is not None:
                    view = memoryview(payload)
                    for start in range(0, len(view), STREAM_CHUNK):
                        copy.write(view[start : start + STREAM_CHUNK])
            except BaseException as exc:  # handed to the main thread
                self._error = exc
                while self._queue.get() is not None:
                    pass

        self._thread = threading.Thread(target=write, name="copy-writer", daemon=True)
        self._thread.start()

    def put(self, frame: pl.DataFrame) -> None:
        """Queue one batch of rows as CSV (waits while the queue is full)."""
        if self._error is not None:
            raise self._error
        if frame.height == 0:
            return
        if self._thread is None:
            self.columns = frame.columns
            self._start()
        elif frame.columns != self.columns:
            raise RuntimeError(f"batch columns {frame.columns} differ from the COPY's {self.columns}")
        self._send(_encode_rows(frame))

    def _send(self, payload: bytes) -> None:
        self._queue.put(payload)

    def finish(self) -> None:
        """End the COPY: wait for the thread to write everything and the server to store it."""
        if self._thread is None:
            return
        self._stop()
        error = self._error
        try:
            if error is None:
                self._copy_cm.__exit__(None, None, None)
                self.rows = self._cursor.rowcount if self._cursor is not None else 0
            else:
                # psycopg ends the COPY with an error: the server discards it, the transaction aborts.
                self._copy_cm.__exit__(type(error), error, error.__traceback__)
        finally:
            self._cursor.close()  # type: ignore[union-attr]
        if error is not None:
            raise error

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()  # type: ignore[union-attr]
        self._thread = None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.finish()
            return
        if self._thread is not None:
            self._stop()
            try:
                self._copy_cm.__exit__(exc_type, exc, tb)
            finally:
                self._cursor.close()  # type: ignore[union-attr]


class _Quarantine:
    """Problem rows of every batch, kept until the raw rows' COPY has ended; a file keeps them
    once there are more than ``QUARANTINE_IN_MEMORY`` (a file that is all problems)."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.rows = 0
        self.spill: Any = None

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self.rows += frame.height
        self.frames.append(frame.select(mapping.QUARANTINE_COLUMNS))
        if self.spill is not None or self.rows > QUARANTINE_IN_MEMORY:
            if self.spill is None:
                self.spill = tempfile.TemporaryFile()
            for part in self.frames:
                self.spill.write(_encode_rows(part))
            self.frames = []

    def copy(self, conn: psycopg.Connection) -> None:
        table = sql.Identifier("audit", "quarantine")
        if self.spill is None:
            frame = pl.concat(self.frames) if self.frames else pl.DataFrame(schema=mapping.QUARANTINE_SCHEMA)
            _copy_frame(conn, table, frame)
            return
        with (
            self.spill,
            conn.cursor() as cur,
            cur.copy(_copy_statement(table, mapping.QUARANTINE_COLUMNS)) as copy,
        ):
            self.spill.seek(0)
            while chunk := self.spill.read(STREAM_CHUNK):
                copy.write(chunk)
