"""A text file's first bytes and encoding: refuse empty and binary files, detect UTF-8 or Windows-1252."""

from __future__ import annotations

import codecs
from pathlib import Path

from innovation_pipeline.readers.source_file import FileRejected


def sniff_bytes(path: Path, file_name: str) -> bytes:
    """First bytes of the file, rejecting empty files and files that are not text."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip(b" \t\r\n\xef\xbb\xbf\x00"):
        raise FileRejected("empty_file", f"{file_name}: the file is empty")
    if head.startswith(b"PK\x03\x04"):
        raise FileRejected(
            "unreadable", f"{file_name}: this is an Excel workbook (or another zip file), not CSV"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected("unreadable", f"{file_name}: this is an old-style Excel .xls file, not CSV")
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if control > max(8, len(head) // 20):
        raise FileRejected("unreadable", f"{file_name}: the file is binary, not text")
    return head


def detect_encoding(path: Path, configured: str, head: bytes) -> str:
    """Configured, else UTF-8 (with or without BOM) if the whole file decodes, else Windows-1252."""
    if configured != "auto":
        return configured
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"
