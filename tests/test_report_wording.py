"""The report's words, from pure functions: plurals, submitter words, rejection wording per file
format, and the file name a corrected file should have for every contract in programs/."""

from __future__ import annotations

import re

import pytest

from innovation_pipeline.contracts import load_contracts
from innovation_pipeline.dq.catalog import explain_rejection
from innovation_pipeline.dq.file_names import example_name, expected_name
from innovation_pipeline.dq.report import plural, slug
from innovation_pipeline.dq.report_data import Program


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (1, "problem", "1 problem"),
        (0, "problem", "0 problems"),
        (3, "row", "3 rows"),
        (1204, "row", "1,204 rows"),
    ],
)
def test_plural(count, word, expected):
    assert plural(count, word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("State agency", "State agencies"),
        ("District", "Districts"),
        ("District / Provider", "Districts / Providers"),
        ("Provider", "Providers"),
    ],
)
def test_submitter_words_in_the_plural(word, expected):
    assert Program("p", "P", [], {}, word).submitter_plural == expected


def test_a_json_file_without_records_is_not_said_to_have_a_header():
    json_file = explain_rejection("x.json: the file has no records", "rejected", "no_data_rows", "json")
    csv_file = explain_rejection(
        "x.csv: the file has a header but no data rows", "rejected", "no_data_rows", "csv"
    )
    assert "header" not in (json_file.title + json_file.fix).lower() and "records" in json_file.fix
    assert "headings" in csv_file.fix
    assert json_file.title == csv_file.title == "The file had no data rows"


def test_slug_keeps_district_and_code_readable():
    assert slug("Allen County (KY-005)") == "Allen-County-KY-005"
    assert slug("NH_LE_white mountain/../x") == "NH_LE_white-mountain-x"


@pytest.mark.parametrize("source", sorted(load_contracts()))
def test_expected_file_name_matches_the_contract_and_names_submitter_and_year(source):
    contract = load_contracts()[source]
    pattern = re.compile(contract.file.pattern, re.IGNORECASE)
    groups = pattern.groupindex
    submitter = "0123" if "submitter" in groups and r"\d{4}" in contract.file.pattern else "005"
    if "submitter" in groups and "[A-Z]{2}" in contract.file.pattern:
        submitter = "CO"
    if "submitter" in groups and "[a-z0-9-]" in contract.file.pattern:
        submitter = "friends-forever"
    name = expected_name(contract.file.pattern, "not-the-rule.txt", submitter, 2025)
    found = pattern.match(name)
    assert found, f"{source}: {name} does not match {contract.file.pattern}"
    if "submitter" in groups:
        assert found.group("submitter") == submitter, name
    if "school_year" in groups:
        assert found.group("school_year") in {"2024-25", "2024-2025", "2025", "SY2025"}, name
    # a received name that already follows the rule is the name to send again
    assert expected_name(contract.file.pattern, name, "other", 2020) == name


def test_example_name_leaves_optional_parts_out():
    assert (
        example_name(
            r"^KY_LLL_(?P<submitter>\d{3})_(?P<school_year>[^_.]+)(?:_[A-Za-z0-9]+)?\.csv$", "005", "2024-25"
        )
        == "KY_LLL_005_2024-25.csv"
    )
    # a value that does not fit the rule is not used (a four-digit year pattern gets no '2024-25')
    name = example_name(r"^co_cde_(?P<school_year>\d{4}-\d{4})_Chronic.*\.xlsx$", None, "2024-25")
    assert re.match(r"^co_cde_\d{4}-\d{4}_Chronic\.xlsx$", name)
