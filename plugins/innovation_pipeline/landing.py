"""Land one submitted file: archive it, parse it by its contract, COPY good rows to ``raw.<source>``,
quarantine the rest with a readable reason, and record the submission in ``audit``.

This is the one code path for the CLI, the DAGs and the tests. A submission loads in one
transaction (all of its good rows or none), ``received = loaded + quarantined`` is checked before
commit, the same bytes are loaded once, and a corrected resubmission supersedes the earlier one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import psycopg
from psycopg import sql

from innovation_pipeline import checks, duplicates, mapping
from innovation_pipeline.contracts import Contract
from innovation_pipeline.copy_stream import _Quarantine, _RowStream
from innovation_pipeline.crosswalk import Crosswalk, canonical_submitter
from innovation_pipeline.landing_tables import ensure_landing_schema, ensure_raw_table
from innovation_pipeline.marts_snapshot import hold_load_fence
from innovation_pipeline.readers import FileRejected, open_source
from innovation_pipeline.settings import archive_dir, pseudonym_key
from innovation_pipeline.warehouse import conninfo

# The landing and raw tables are created by landing_tables; callers set them up through here.
__all__ = ["FileRejected", "LandingResult", "ensure_landing_schema", "ensure_raw_table", "land_file"]

log = logging.getLogger(__name__)
BATCH_ROWS = 50_000
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
    tracker = duplicates.KeyTracker(context)
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
    checks.post_load_checks(conn, context, tracker)

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
