"""The deliberately bad rows, one declarative list, and how they are put into a table.

Each :class:`Spoil` names a program, a school year (by position in the generated years), which
submission (participant index, or state for outcome feeds; None for a state-compiled file), the
data row (index among the clean rows), the cell and the reason code the loader must give it.
Tests read the resulting manifest and assert the pipeline quarantines exactly these and no others.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from innovation_samples.tables import Table

# Placeholders for values that depend on the submission.
OTHER_DISTRICT = "<another participant's district>"
DUPLICATE_ROW = "<repeat the row's natural key>"
LONG_TEXT = "<text longer than 4000 characters>"
BLANK = ""


@dataclass(frozen=True)
class Spoil:
    """One bad cell (or a repeated row) in one generated submission."""

    source: str
    year_index: int
    who: int | str | None
    row: int
    key: str
    raw: str
    reason_code: str
    description: str
    extra: bool = False  # put the bad value in a new row after `row` (a copy of it): no real row is lost

    @property
    def inserts(self) -> bool:
        return self.extra or self.raw == DUPLICATE_ROW


S = Spoil
ROW_DEFECTS: tuple[Spoil, ...] = (
    S(
        "co_local_accountability",
        0,
        1,
        2,
        "school_code",
        DUPLICATE_ROW,
        "duplicate_key",
        "a school listed twice",
    ),
    S(
        "co_local_accountability",
        1,
        0,
        1,
        "skills_attainment_rate",
        "112%",
        "out_of_range",
        "a rate above 100% (fixed in the district's _v2 resubmission)",
    ),
    S(
        "co_local_accountability",
        1,
        2,
        0,
        "students_enrolled",
        BLANK,
        "missing_value",
        "enrollment left blank",
    ),
    S(
        "co_local_accountability",
        2,
        3,
        1,
        "district",
        OTHER_DISTRICT,
        "district_mismatch",
        "a row carrying another grantee's district code",
    ),
    S(
        "co_local_accountability",
        2,
        4,
        2,
        "culture_survey_favorable_rate",
        "n/a",
        "not_a_number",
        "'n/a' in a rate that cannot be suppressed",
    ),
    S("ky_local_labs", 0, 0, 3, "grade", "7", "not_allowed_value", "grade 7 is not a transition grade"),
    S("ky_local_labs", 0, 2, 5, "students_defended", "12.5", "not_whole_number", "a fractional count"),
    S(
        "ky_local_labs",
        1,
        1,
        7,
        "district",
        OTHER_DISTRICT,
        "district_mismatch",
        "a row for another district inside this district's file",
    ),
    S(
        "ky_local_labs",
        1,
        3,
        14,
        "grade",
        DUPLICATE_ROW,
        "duplicate_key",
        "the last grade/competency row sent twice",
    ),
    S(
        "ky_local_labs",
        2,
        4,
        9,
        "competency",
        "Creativity",
        "not_allowed_value",
        "not one of the five success skills",
    ),
    S("ky_local_labs", 2, 5, 2, "students_eligible", "-4", "out_of_range", "a negative count"),
    S(
        "mt_transformational_learning",
        0,
        None,
        5,
        "district",
        "3099999",
        "unknown_district",
        "an LEA ID that is not in the directory",
    ),
    S(
        "mt_transformational_learning",
        0,
        None,
        11,
        "school_year",
        "2021-23",
        "bad_school_year",
        "a school year spanning two years",
    ),
    S(
        "mt_transformational_learning",
        1,
        None,
        8,
        "school_year",
        "SY1999",
        "school_year_out_of_range",
        "a school year before the program existed",
    ),
    S(
        "mt_transformational_learning",
        1,
        None,
        20,
        "funding_amount",
        BLANK,
        "missing_value",
        "funding left blank",
    ),
    S(
        "mt_transformational_learning",
        2,
        None,
        3,
        "credits_by_proficiency",
        "TBD",
        "not_a_number",
        "'TBD' instead of a number",
    ),
    S(
        "mt_transformational_learning",
        2,
        None,
        17,
        "work_based_learning_hours",
        "-12",
        "out_of_range",
        "negative hours",
    ),
    S("nh_learn_everywhere", 0, 0, 10, "student_id", BLANK, "missing_value", "a credit without a student ID"),
    S(
        "nh_learn_everywhere",
        0,
        1,
        25,
        "credits_awarded",
        "6",
        "out_of_range",
        "more than 4 credits for one program",
    ),
    S("nh_learn_everywhere", 1, 2, 40, "date_awarded", "2023-02-30", "bad_date", "February 30th"),
    S(
        "nh_learn_everywhere",
        1,
        0,
        55,
        "subject_area",
        "Basket Weaving",
        "not_allowed_value",
        "not a Learn Everywhere subject area",
    ),
    S(
        "nh_learn_everywhere",
        2,
        1,
        5,
        "district",
        "Lakes Region Regional School District",
        "unknown_district",
        "a resident district that does not exist",
    ),
    S(
        "nh_learn_everywhere",
        2,
        3,
        12,
        "student_id",
        DUPLICATE_ROW,
        "duplicate_key",
        "the same student's credit in the same program sent twice",
    ),
    S(
        "nh_learn_everywhere",
        2,
        2,
        30,
        "program_name",
        LONG_TEXT,
        "value_too_long",
        "a program description pasted into the program name",
    ),
    S("nd_innovative_education", 0, None, 3, "granted_date", "2021-02-30", "bad_date", "February 30th"),
    S(
        "nd_innovative_education",
        1,
        None,
        6,
        "waiver_rule",
        "Seat Time",
        "not_allowed_value",
        "not one of the five waivable rules",
    ),
    S(
        "nd_innovative_education",
        1,
        None,
        10,
        "waiver_rule",
        DUPLICATE_ROW,
        "duplicate_key",
        "the same waiver registered twice",
    ),
    S(
        "nd_innovative_education",
        2,
        None,
        2,
        "schools_covered",
        "-1",
        "out_of_range",
        "a negative school count",
    ),
    S("ut_pcbl_grants", 0, 1, 0, "pathway", "Robotics", "not_allowed_value", "not one of the five pathways"),
    S(
        "ut_pcbl_grants",
        1,
        2,
        1,
        "district",
        OTHER_DISTRICT,
        "district_mismatch",
        "another grantee's name inside this district's report",
    ),
    S("ut_pcbl_grants", 2, 0, 1, "grant_amount", BLANK, "missing_value", "grant amount left blank"),
    S(
        "ut_pcbl_grants",
        2,
        3,
        0,
        "teachers_microcredentialed",
        "12 teachers",
        "not_a_number",
        "a count with words",
    ),
    S("wa_mastery_learning", 0, None, 4, "educators_in_pd", "twelve", "not_a_number", "a count spelled out"),
    S(
        "wa_mastery_learning",
        1,
        None,
        9,
        "postsecondary_ready_rate",
        "120",
        "out_of_range",
        "a rate above 100%",
    ),
    S(
        "wa_mastery_learning",
        2,
        None,
        14,
        "mastery_credits_awarded",
        "-3",
        "out_of_range",
        "negative credits (same row as the next defect: two problems, one quarantined row)",
    ),
    S(
        "wa_mastery_learning",
        2,
        None,
        14,
        "educators_in_pd",
        "8.5",
        "not_whole_number",
        "a fractional count (same row as the previous defect)",
    ),
    S(
        "state_outcomes",
        0,
        "CO",
        7,
        "district",
        "0007",
        "unknown_district",
        "an extra row with a district code CDE never issued",
        extra=True,
    ),
    S("state_outcomes", 1, "UT", 20, "district", DUPLICATE_ROW, "duplicate_key", "a district listed twice"),
    S("state_outcomes", 2, "KY", 30, "graduation_rate_4yr", "104.0%", "out_of_range", "a rate above 100%"),
    S(
        "state_outcomes",
        1,
        "WA",
        12,
        "discipline_rate",
        "N.A.",
        "unknown_marker",
        "'N.A.' is not a suppression marker (fixed in the _v2 resubmission)",
    ),
)

_LONG = ("Hands-on engineering design challenge in which teams build, test and document bridges. " * 60)[
    :4100
]


def spoils_for(source: str, year_index: int, who: int | str | None) -> list[Spoil]:
    """The spoils for one submission."""
    return [s for s in ROW_DEFECTS if (s.source, s.year_index, s.who) == (source, year_index, who)]


def apply_spoils(table: Table, spoils: list[Spoil], other_district: str, natural_key: list[str]) -> None:
    """Put the spoils into the table's rows; a repeated row goes right after the row it repeats."""

    def value(spoil: Spoil) -> str:
        return {OTHER_DISTRICT: other_district, LONG_TEXT: _LONG}.get(spoil.raw, spoil.raw)

    for spoil in (s for s in spoils if not s.inserts):
        table.rows[spoil.row].spoil(spoil.key, value(spoil), spoil.reason_code, spoil.description)
    # New rows last, from the bottom up, so earlier row indexes still point at the clean rows.
    for spoil in sorted((s for s in spoils if s.inserts), key=lambda s: -s.row):
        added = copy.deepcopy(table.rows[spoil.row])
        if spoil.raw == DUPLICATE_ROW:
            added.defects.append((",".join(natural_key), spoil.reason_code, spoil.description))
        else:
            added.spoil(spoil.key, value(spoil), spoil.reason_code, spoil.description)
        table.rows.insert(spoil.row + 1, added)
