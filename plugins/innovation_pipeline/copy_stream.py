"""COPY of a submission's rows: good rows streamed by a writer thread, problem rows after it ends."""

from __future__ import annotations

import io
import queue
import tempfile
import threading
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from innovation_pipeline.quarantine import QUARANTINE_COLUMNS, QUARANTINE_SCHEMA

# Batches of CSV waiting for the COPY writer thread; bytes per write to the connection.
STREAM_QUEUE = 2
STREAM_CHUNK = 1 << 20
QUARANTINE_IN_MEMORY = 100_000


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
        self.frames.append(frame.select(QUARANTINE_COLUMNS))
        if self.spill is not None or self.rows > QUARANTINE_IN_MEMORY:
            if self.spill is None:
                self.spill = tempfile.TemporaryFile()
            for part in self.frames:
                self.spill.write(_encode_rows(part))
            self.frames = []

    def copy(self, conn: psycopg.Connection) -> None:
        table = sql.Identifier("audit", "quarantine")
        if self.spill is None:
            frame = pl.concat(self.frames) if self.frames else pl.DataFrame(schema=QUARANTINE_SCHEMA)
            _copy_frame(conn, table, frame)
            return
        with (
            self.spill,
            conn.cursor() as cur,
            cur.copy(_copy_statement(table, QUARANTINE_COLUMNS)) as copy,
        ):
            self.spill.seek(0)
            while chunk := self.spill.read(STREAM_CHUNK):
                copy.write(chunk)
