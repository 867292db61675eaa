"""The hostile-input corpus (issue 17): every file ends as a recorded submission, whatever it holds.

Each case is a file and the outcome it must have: rejected whole with a reason code and a message
naming the file (and row or column where there is one), or loaded with the named cells
quarantined. For every case the test also checks what must always hold: the outcome is in
``audit.submissions`` (so the DAG neither retries the file nor lists it as new again),
``received = loaded + quarantined``, the raw table holds exactly the loaded rows (none of a
rejected file), messages are short and free of tracebacks, and no non-finite number is stored.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest
from bad_input_helpers import HEADER, _contract, add_zz_district

from innovation_pipeline import quarantine
from innovation_pipeline.contracts import Contract
from innovation_pipeline.landing import FileRejected, file_sha256, land_file

MESSAGE_LIMIT = 400


@pytest.fixture(scope="module")
def contracts(warehouse_url: str, tmp_path_factory) -> dict[str, Contract]:
    folder = tmp_path_factory.mktemp("corpus_contracts")
    add_zz_district(warehouse_url)
    return {
        "csv": _contract(folder, "zz_corpus_csv", "csv", "csv"),
        "json": _contract(folder, "zz_corpus_json", "json", "json"),
        "excel": _contract(folder, "zz_corpus_excel", "excel", "xlsx"),
    }


def row(
    sd: str = "1", note: str = "", amount: str = "", ratio: str = "", day: str = "", grade: str = "5"
) -> str:
    return f"001,{grade},innovation,{sd},{note},{amount},{ratio},{day}"


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return "\r\n".join([header, *rows]).encode("utf-8") + b"\r\n"


def json_text(records: str) -> bytes:
    return records.encode("utf-8")


def json_record(**cells: str) -> str:
    base = {
        "District Number": '"001"',
        "Grade": '"5"',
        "Competency": '"innovation"',
        "Students Defended": "1",
    }
    base.update(cells)
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in base.items()) + "}"


def xlsx(rows: list[list], dimension: str | None = None, formula: bool = False) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    if dimension is None:
        return buf.getvalue()
    # Rewrite the sheet's declared size (and add one far cell), as a hostile or broken writer does.
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = re.sub(
                    r"<dimension ref=\"[^\"]*\"\s*/>", f'<dimension ref="{dimension}"/>', data.decode()
                )
                far = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
                text = text.replace("</sheetData>", far + "</sheetData>")
                data = text.encode()
            dst.writestr(item, data)
    return out.getvalue()


@dataclass
class Case:
    id: str
    fmt: str
    data: bytes
    rejected: str | None = None  # the reason code
    words: str = ""  # words the rejection's message must hold
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)
    loaded: int = 0


HUGE = "9" * 10_000_000
CASES = [
    # Non-finite and out-of-range numbers.
    Case(
        "infinity-in-integer",
        "csv",
        csv_file(row(sd="Infinity"), row()),
        quarantined=[(2, "Students Defended", "not_a_number")],
        loaded=1,
    ),
    Case(
        "nan-in-integer",
        "csv",
        csv_file(row(sd="NaN"), row()),
        quarantined=[(2, "Students Defended", "not_a_number")],
        loaded=1,
    ),
    Case(
        "infinity-in-number",
        "csv",
        csv_file(row(ratio="Infinity"), row(ratio="-inf", grade="8"), row(grade="12")),
        quarantined=[(2, "Ratio", "not_a_number"), (3, "Ratio", "not_a_number")],
        loaded=1,
    ),
    Case(
        "nan-in-number",
        "csv",
        csv_file(row(ratio="NaN"), row(grade="8")),
        quarantined=[(2, "Ratio", "not_a_number")],
        loaded=1,
    ),
    Case(
        "integer-overflow",
        "csv",
        csv_file(row(sd="99999999999999999999"), row()),
        quarantined=[(2, "Students Defended", "number_too_large")],
        loaded=1,
    ),
    Case(
        "integer-overflow-by-exponent",
        "csv",
        csv_file(row(sd="1e400"), row()),
        quarantined=[(2, "Students Defended", "number_too_large")],
        loaded=1,
    ),
    Case(
        "money-beyond-precision",
        "csv",
        csv_file(
            row(amount="999999999999999999.00"),
            row(amount="1e13", grade="8"),
            row(amount="12.50", grade="12"),
        ),
        quarantined=[(2, "Amount", "money_too_large"), (3, "Amount", "money_too_large")],
        loaded=1,
    ),
    # Dates PostgreSQL cannot store, or no program could mean.
    Case(
        "date-year-0",
        "csv",
        csv_file(row(day="0000-01-01"), row(day="2024-06-30", grade="8")),
        quarantined=[(2, "Day", "date_out_of_range")],
        loaded=1,
    ),
    Case(
        "date-year-1",
        "csv",
        csv_file(row(day="0001-01-01"), row(grade="8")),
        quarantined=[(2, "Day", "date_out_of_range")],
        loaded=1,
    ),
    Case(
        "date-year-9999",
        "csv",
        csv_file(row(day="9999-12-31"), row(grade="8")),
        quarantined=[(2, "Day", "date_out_of_range")],
        loaded=1,
    ),
    # NUL bytes and broken text.
    Case("nul-in-district", "csv", csv_file("0\x0001,5,innovation,1,,,,", row(grade="8")), loaded=2),
    Case(
        "nul-in-text-cell",
        "csv",
        csv_file(row(note="a\x00b"), row(grade="8", sd="\x00")),
        quarantined=[(3, "Students Defended", "missing_value")],
        loaded=1,
    ),
    Case(
        "json-nul-escape",
        "json",
        json_text(
            "["
            + json_record(Note='"a\\u0000b"')
            + ", "
            + json_record(Grade='"8"', **{"Students Defended": '"1\\u0000"'})
            + "]"
        ),
        loaded=2,
    ),
    Case(
        "json-lone-surrogate",
        "json",
        json_text("[" + json_record(Note='"\\ud800"') + ", " + json_record(Grade='"8"') + "]"),
        quarantined=[(1, "Note", "invalid_character")],
        loaded=1,
    ),
    Case(
        "json-surrogate-in-district",
        "json",
        json_text("[" + json_record(**{"District Number": '"\\udfff001"'}) + "]"),
        quarantined=[(1, "District Number", "invalid_character")],
    ),
    # Hostile JSON structure.
    Case(
        "json-100000-deep",
        "json",
        json_text("[" + json_record(Note="[" * 100_000 + "]" * 100_000) + "]"),
        rejected="unreadable",
        words="nested too deeply",
    ),
    Case(
        "json-5000-digit-integer",
        "json",
        json_text(
            "[" + json_record(**{"Students Defended": "9" * 5000}) + ", " + json_record(Grade='"8"') + "]"
        ),
        quarantined=[(1, "Students Defended", "number_too_large")],
        loaded=1,
    ),
    Case(
        "json-infinity-and-nan",
        "json",
        json_text(
            "["
            + json_record(**{"Students Defended": "Infinity", "Ratio": "NaN"})
            + ", "
            + json_record(Grade='"8"', Ratio="-Infinity")
            + "]"
        ),
        quarantined=[
            (1, "Students Defended", "not_a_number"),
            (1, "Ratio", "not_a_number"),
            (2, "Ratio", "not_a_number"),
        ],
    ),
    Case(
        "json-huge-float",
        "json",
        json_text("[" + json_record(Ratio="1e400") + "]"),
        quarantined=[(1, "Ratio", "not_a_number")],
    ),
    Case(
        "json-duplicate-keys",
        "json",
        json_text(
            "["
            + json_record()
            + ', {"District Number": "001", "Grade": "8", "Competency": "innovation", "Students Defended": 1, "Students Defended": 2}]'
        ),
        rejected="duplicate_columns",
        words="'Students Defended' twice",
    ),
    # Silent loss: duplicated headers and unclosed quotes.
    Case(
        "duplicate-header",
        "csv",
        csv_file("001,5,innovation,1,,,,,7", header=HEADER + ",Students Defended"),
        rejected="duplicate_columns",
        words="'Students Defended' 2 times (columns 4, 9)",
    ),
    Case(
        "duplicate-header-case-and-space",
        "csv",
        csv_file("001,5,innovation,1,,,,,7", header=HEADER + ", students  DEFENDED"),
        rejected="duplicate_columns",
        words="2 times",
    ),
    Case(
        "unclosed-quote-at-end",
        "csv",
        csv_file(row(), row(note='"oops', grade="8"), row(grade="12"), row(grade="5", sd="2")),
        rejected="unclosed_quote",
        words="row 3, column 'Note'",
    ),
    Case(
        "unclosed-quote-mid-file",
        "csv",
        csv_file(row(note='"oops'), row(grade="8"), row(grade="12"), row(note='"quoted"', sd="4")),
        rejected="unclosed_quote",
        words="row 2, column 'Note'",
    ),
    Case(
        "multi-line-note-is-fine",
        "csv",
        csv_file(row(note='"first line\nsecond, line"'), row(grade="8")),
        loaded=2,
    ),
    # Messages: the right row for a bad byte, capped values.
    Case(
        "bad-byte-on-line-8",
        "csv",
        csv_file(*[row(sd=str(i)) for i in range(6)]) + b"001,5,innovation,1,\x81,,,\r\n",
        rejected="unreadable",
        words="line 8",
    ),
    Case(
        "ten-megabyte-value",
        "csv",
        csv_file(row(sd=HUGE), row(grade="8")),
        quarantined=[(2, "Students Defended", "number_too_large")],
        loaded=1,
    ),
    Case(
        "ten-megabyte-district",
        "csv",
        csv_file("0" + HUGE + ",5,innovation,1,,,,", row(grade="8")),
        quarantined=[(2, "District Number", "unknown_district")],
        loaded=1,
    ),
    # Workbooks.
    Case(
        "workbook-declaring-a-huge-sheet",
        "excel",
        xlsx([HEADER.split(","), ["001", 5, "innovation", 3]], dimension="A1:XFD1048576"),
        rejected="too_large",
        words="1,048,576 rows by 16,384 columns",
    ),
    Case(
        "workbook-formula-cell",
        "excel",
        xlsx([HEADER.split(","), ["001", 5, "innovation", "=1+2"], ["001", 8, "innovation", 4]]),
        quarantined=[(2, "Students Defended", "formula_not_computed")],
        loaded=1,
    ),
]


def _write(folder: Path, contract: Contract, case: Case, number: int) -> Path:
    ext = {"csv": "csv", "json": "json", "excel": "xlsx"}[case.fmt]
    path = folder / f"ZZ_001_{2000 + number}-{(number + 1) % 100:02d}_{case.id}.{ext}"
    path.write_bytes(case.data)
    return path


def _submissions(db, path: Path) -> list[tuple]:
    return db.execute(
        "select submission_id, status, reason_code, coalesce(message, ''), rows_received, rows_loaded, rows_quarantined"
        " from audit.submissions where file_sha256 = %s order by submission_id",
        (file_sha256(path),),
    ).fetchall()


def _readable(message: str) -> None:
    assert message and len(message) <= MESSAGE_LIMIT + 200, message[:300]
    assert "Traceback" not in message and "psycopg" not in message and 'File "' not in message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file_ends_as_a_recorded_submission(db, contracts, tmp_path, case: Case):
    contract = contracts[case.fmt]
    path = _write(tmp_path, contract, case, CASES.index(case))
    table = f"raw.{contract.raw_table}"
    if case.rejected:
        with pytest.raises(FileRejected) as info:
            land_file(contract, path)
        assert info.value.code == case.rejected, str(info.value)[:300]
        [(sub, status, code, message, *_)] = _submissions(db, path)
        assert (status, code) == ("rejected", case.rejected)
        assert path.name in message and case.words in message, message[:300]
        _readable(message)
        # The same delivery again is the recorded rejection, not a second attempt.
        with pytest.raises(FileRejected):
            land_file(contract, path)
        assert len(_submissions(db, path)) == 1
        assert (
            db.execute(f"select count(*) from {table} where _submission_id = %s", (sub,)).fetchone()[0] == 0
        )
        return

    result = land_file(contract, path)
    [(sub, status, _, _, received, loaded, quarantined)] = _submissions(db, path)
    assert status == "loaded" and sub == result.submission_id
    expected_rows = {r for r, _, _ in case.quarantined}
    assert (received, loaded, quarantined) == (
        case.loaded + len(expected_rows),
        case.loaded,
        len(expected_rows),
    )
    assert (
        db.execute(f"select count(*) from {table} where _submission_id = %s", (sub,)).fetchone()[0] == loaded
    )
    problems = db.execute(
        "select source_row, column_name, reason_code, message, raw_value from audit.quarantine"
        " where submission_id = %s order by source_row, column_name",
        (sub,),
    ).fetchall()
    assert sorted((r, c, code) for r, c, code, _, _ in problems) == sorted(case.quarantined)
    for r, column, _, message, raw in problems:
        assert message.startswith(f"Row {r}, column '{column}'"), message[:200]
        assert len(message) <= MESSAGE_LIMIT, message[:200]
        _readable(message)
        assert raw is None or len(raw) <= quarantine.RAW_VALUE_LIMIT
    # No non-finite number reaches a table the marts read.
    non_finite = db.execute(
        f"select count(*) from {table} where _submission_id = %s and (ratio in ('NaN', 'Infinity', '-Infinity')"
        " or amount::numeric in ('NaN', 'Infinity', '-Infinity'))",
        (sub,),
    ).fetchone()[0]
    assert non_finite == 0


def test_the_corpus_covers_every_class():
    """The classes of issue 17 each have a case (so a class cannot silently drop out)."""
    ids = " ".join(c.id for c in CASES)
    for word in (
        "infinity",
        "nan",
        "overflow",
        "money",
        "year-0",
        "year-1",
        "year-9999",
        "nul",
        "surrogate",
        "deep",
        "5000-digit",
        "duplicate-keys",
        "duplicate-header",
        "unclosed-quote",
        "bad-byte",
        "ten-megabyte",
        "huge-sheet",
        "formula",
    ):
        assert word in ids, word
