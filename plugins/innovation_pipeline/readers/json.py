"""JSON files: a list of records (optionally under a path), each record's keys the header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from innovation_pipeline.contracts import Contract
from innovation_pipeline.readers.encoding import detect_encoding, sniff_bytes
from innovation_pipeline.readers.source_file import (
    FileRejected,
    ReadStats,
    SourceFile,
    _batched,
    _map_header,
    _RowRules,
    _valid_text,
)
from innovation_pipeline.row_filters import check_header

MAX_JSON_BYTES = 256 * 1024 * 1024


class _DuplicateKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    record: dict[str, object] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[_valid_text(key)] = _valid_text(value) if isinstance(value, str) else value
    return record


def _parse_json(text: str, file_name: str) -> object:
    """The document, with long integers kept as the text written, Infinity and NaN as words
    (which are not numbers), duplicate keys and nesting deeper than Python's recursion limit
    refused."""
    try:
        return json.loads(
            text,
            # Python refuses int() of more than 4,300 digits; such a number is kept as its text.
            parse_int=lambda digits: int(digits) if len(digits) <= 100 else digits,
            parse_constant=str,
            object_pairs_hook=_json_object,
        )
    except _DuplicateKey as exc:
        raise FileRejected(
            "duplicate_columns",
            f"{file_name}: a record names the field {str(exc)[:100]!r} twice; which value is meant is unclear",
        ) from None
    except RecursionError:
        raise FileRejected(
            "unreadable", f"{file_name}: the JSON is nested too deeply to be records"
        ) from None
    except json.JSONDecodeError as exc:
        raise FileRejected("unreadable", f"{file_name}: not valid JSON ({exc})") from exc


def _open_json(contract: Contract, path: Path, file_name: str, batch_size: int) -> SourceFile:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise FileRejected("too_large", f"{file_name}: JSON files over {MAX_JSON_BYTES:,} bytes are refused")
    head = sniff_bytes(path, file_name)
    encoding = detect_encoding(path, contract.file.encoding, head)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected("unreadable", f"{file_name}: not valid JSON ({exc})") from exc
    data = _parse_json(text, file_name)
    records = data
    for key in (contract.file.records_path or "").split(".") if contract.file.records_path else []:
        if not isinstance(records, dict) or key not in records:
            raise FileRejected(
                "missing_columns", f"{file_name}: no {contract.file.records_path!r} list in the JSON"
            )
        records = records[key]
    if not isinstance(records, list):
        raise FileRejected("unreadable", f"{file_name}: expected a list of records")
    if not records:
        raise FileRejected("no_data_rows", f"{file_name}: the file has no records")
    header: list[str] = []
    for rec in records:
        if isinstance(rec, dict):
            header.extend(k for k in rec if k not in header)
    # The record keys are the header: map them once (no header row to search for).
    columns, missing = _map_header(list(header), contract)
    if missing:
        raise FileRejected(
            "missing_columns", f"{file_name}: records lack required field(s): {', '.join(missing)}"
        )
    stats = ReadStats()
    check_header(contract, list(header), file_name)
    rules = _RowRules(contract, list(header))

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, rec in enumerate(records, start=1):
            yield number, [rec.get(k) for k in header] if isinstance(rec, dict) else [None] * len(header)

    used = set(columns.values())
    return SourceFile(
        name=file_name,
        sheet=None,
        header_row=0,
        header=header,
        mapping={t: header[i] for t, i in columns.items()},
        unmapped=[h for i, h in enumerate(header) if i not in used],
        encoding=encoding,
        delimiter=None,
        stats=stats,
        _batches=_batched(rows(), columns, rules, stats, batch_size),
    )
