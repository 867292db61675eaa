"""The inboxes: one folder per source under ``settings.inbox_url()``, read through ObjectStoragePath.

A local folder by default (``file://``); ``PIPELINE_INBOX_URL=s3://bucket/inbox`` (with
``PIPELINE_INBOX_CONN_ID`` for its credentials) moves them to object storage with no code change.
Files stay in the inbox after landing (the archive keeps a copy by SHA-256, so an operator may
prune the inbox at will); a file is new while no submission of this source has recorded its name
and SHA-256, whatever its status, so a rejected file is reported once and not again on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

from innovation_pipeline import settings
from innovation_pipeline.orchestration import config

log = logging.getLogger(__name__)

#: Names of files still being written by an uploader, or that are not submissions.
_IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
_CHUNK = 1024 * 1024


def inbox(source: str) -> ObjectStoragePath:
    """The inbox folder of a source."""
    return ObjectStoragePath(settings.inbox_url().rstrip("/") + f"/{source}/", conn_id=config.inbox_conn_id())


def _path(uri: str) -> ObjectStoragePath:
    return ObjectStoragePath(uri, conn_id=config.inbox_conn_id())


def is_submission_name(name: str) -> bool:
    """Whether a file in an inbox is a submission (not hidden, not half-uploaded)."""
    return not name.startswith((".", "~$")) and not name.lower().endswith(_IGNORED_SUFFIXES)


def sha256_of(path: ObjectStoragePath) -> str:
    """SHA-256 of a file, streamed so a large file is never read into memory whole."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_local(path: ObjectStoragePath) -> bool:
    return path.protocol in ("file", "local", "")


def _inside_inbox(entry: ObjectStoragePath, folder: ObjectStoragePath) -> bool:
    """False for a link, or a local entry that resolves outside its inbox: following one would
    archive, load and report whatever file it points at (``/etc/passwd`` as a submission)."""
    if not _is_local(entry):
        return True
    local = Path(entry.path)
    if local.is_symlink() or not local.resolve().is_relative_to(Path(folder.path).resolve()):
        log.warning("%s: a link or a path outside the inbox; refused, not loaded", entry.name)
        return False
    return True


def list_inbox(source: str) -> list[dict[str, Any]]:
    """Every submission file in a source's inbox, oldest first (arrival order), with its SHA-256."""
    folder = inbox(source)
    if not folder.exists():
        return []
    files = []
    for entry in folder.iterdir():
        if not is_submission_name(entry.name) or not _inside_inbox(entry, folder):
            continue
        if not entry.is_file():
            continue
        info = entry.stat()
        files.append(
            {
                "uri": str(entry),
                "name": entry.name,
                "size": int(info.get("size") or 0),
                "modified": float(info.get("mtime") or 0.0),
                "sha256": sha256_of(entry),
            }
        )
    files.sort(key=lambda f: (f["modified"], f["name"]))
    return files


def recorded(source: str, files: list[dict[str, Any]], conn: Any) -> set[tuple[str, str]]:
    """The (SHA-256, file name) pairs among ``files`` that already have a submission of this source."""
    if not files:
        return set()
    exists = conn.execute("select to_regclass('audit.submissions') is not null").fetchone()[0]
    if not exists:
        return set()
    rows = conn.execute(
        "select distinct file_sha256, file_name from audit.submissions"
        " where source = %s and file_sha256 = any(%s)",
        (source, sorted({f["sha256"] for f in files})),
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def new_files(source: str, files: list[dict[str, Any]], conn: Any) -> list[dict[str, Any]]:
    """Deliveries (file name and bytes) this source has not recorded yet, in arrival order.

    The loader keys a delivery the same way, so the same bytes under a new name are handed to it
    and recorded as a duplicate submission, while a file already landed, or rejected, is not
    landed again on every run.
    """
    seen = recorded(source, files, conn)
    return [f for f in files if (f["sha256"], f["name"]) not in seen]


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local path for an inbox file: the file itself if local, else a temporary copy."""
    path = _path(uri)
    if _is_local(path):
        local = Path(path.path)
        if local.is_symlink():
            raise ValueError(f"{local.name}: a link in the inbox is refused, not loaded")
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="inbox-") as tmp:
        target = Path(tmp) / path.name
        with path.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        yield target
