"""One function per program: the clean figures and how that program lays out its file.

A layout returns a :class:`~innovation_samples.tables.Table` (plus the file's envelope:
name, format, encoding); the generator injects defects and serializes it. Figures are stable per
district across years (a seeded base) with year-to-year drift, so trends look like real programs.

Kept as one module though it is long: one function per program's file layout (seven programs and
the state outcome feeds), each whole in one place, and the shared helpers they build on above them.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innovation_pipeline.contracts import Contract
from innovation_samples.directory import District
from innovation_samples.mess import (
    clamp,
    count_marker,
    count_text,
    money_text,
    rate_marker,
    rate_text,
    school_year_text,
)
from innovation_samples.tables import Row, Table


@dataclass
class Context:
    """The seed, the directory and the aliases every layout draws on."""

    seed: int
    directory: dict[str, list[District]]  # state -> districts
    aliases: dict[str, list[str]]  # district_id -> alias spellings

    def rng(self, *parts: object) -> random.Random:
        """A random stream for one purpose: the same parts always give the same numbers."""
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def spellings(self, district: District) -> list[str]:
        """Ways a file may write a district's name: the name and its aliases (slugs left out)."""
        return [district.name, *(a for a in self.aliases.get(district.district_id, []) if a != district.slug)]


@dataclass
class Layout:
    """A table and how it is written: file name, format, encoding, delimiter, extra sheets."""

    name: str
    table: Table
    format: str  # csv | excel | json
    encoding: str = "utf-8"
    delimiter: str = ","
    newline: str = "\n"
    sheet: str | None = None
    extra_sheets: dict[str, list[list[Any]]] = field(default_factory=dict)
    envelope: dict[str, Any] = field(default_factory=dict)


def _contract(source: str) -> Contract:
    from innovation_pipeline.contracts import programs_dir

    path = programs_dir() / f"{source}.yml"
    return _load_contract(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _load_contract(path: Path, _mtime_ns: int) -> Contract:
    # Every district-year layout asks for its source's headers: read each contract once (per version).
    from innovation_pipeline.contracts import load_contract

    return load_contract(path)


def headers(
    source: str,
    year: int,
    columns: tuple[str, ...],
    renamed: Mapping[int, tuple[str, ...]] | None = None,
    extra: dict[str, str | tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Column key -> header text for a school year, in file order, from the source's contract.

    A field (or ``district``, ``school_year``) is written with the first name its contract gives,
    or with the next one from the year the layout renamed it (``renamed``: year -> keys), so the
    samples can never drift from what the contracts read. Columns the contract does not read (a
    district name beside its code, an informational id) come from ``extra``: a name, or (old, new).
    """
    contract = _contract(source)
    names: dict[str, list[str]] = {f.name: f.sources for f in contract.fields}
    column = contract.district.column
    names["district"] = [column] if isinstance(column, str) else list(column)
    if contract.school_year.column:
        sy = contract.school_year.column
        names["school_year"] = [sy] if isinstance(sy, str) else list(sy)
    since = {key for start, keys in (renamed or {}).items() if year >= start for key in keys}
    result: dict[str, str] = {}
    for key in columns:
        if key in names:
            if key in since and len(names[key]) < 2:
                raise ValueError(
                    f"{source}: the layout renames {key!r} but the contract knows one name for it"
                )
            result[key] = names[key][1 if key in since else 0]
            continue
        text = (extra or {})[key]
        result[key] = text if isinstance(text, str) else text[1 if key in since else 0]
    return result


def _suppressed_count(value: int, marker: str, threshold: int = 10, style: str = "plain") -> str:
    return count_marker(value, marker, threshold) or count_text(value, style)


# --- Colorado: Local Accountability Systems grants (Excel, a row per school) -----------------------

_CO_COLUMNS = (
    "district",
    "school_code",
    "school_name",
    "grant_amount",
    "students_enrolled",
    "students_participating",
    "skills_attainment_rate",
    "culture_survey_favorable_rate",
    "chronic_absenteeism_rate",
)
_CO_RENAMED = {
    2024: (
        "grant_amount",
        "students_enrolled",
        "students_participating",
        "skills_attainment_rate",
        "culture_survey_favorable_rate",
        "chronic_absenteeism_rate",
    )
}
_LEVELS = ("Elementary", "Middle School", "High School", "K-8", "Early College")


def _co_rate(value: float, year: int) -> Any:
    # 2022 sends fractions as numbers, 2023 text like '85.3%', 2024 percents as numbers.
    return {2022: round(value, 3), 2023: rate_text(value, "percent_sign")}.get(
        year, float(rate_text(value, "percent_number"))
    )


def co_local_accountability(ctx: Context, district: District, year: int) -> Layout:
    """A grantee district's school measures workbook: title rows, notes, 'End of Worksheet'."""
    base, drift = ctx.rng("co", district.district_id), ctx.rng("co", district.district_id, year)
    n_schools = base.randint(3, 8)
    codes = sorted(base.sample(range(100, 9990), n_schools))
    stems = base.sample(
        [
            "Cañon",
            "Harrison",
            "Lincoln",
            "Aspen",
            "Columbine",
            "Pikes Peak",
            "Mesa",
            "Sunset",
            "Bear Creek",
            "Ridgeview",
            "Summit",
            "Arapahoe",
        ],
        n_schools,
    )
    grant = base.randrange(80_000, 400_000, 5_000)
    rows = []
    for i, code in enumerate(codes):
        enrolled = base.randint(40, 90) if i == 0 else base.randint(180, 1800)
        enrolled = max(20, enrolled + drift.randint(-15, 15))
        participating = int(
            enrolled * clamp(base.uniform(0.1, 0.3) if i == 0 else base.uniform(0.35, 1), 0, 1)
        )
        small = participating < 16
        rows.append(
            Row(
                {
                    "district": int(district.state_code) if year == 2022 else district.state_code,
                    "school_code": f"{code:04d}",
                    "school_name": f"{stems[i]} {_LEVELS[(i + code) % len(_LEVELS)]}",
                    "grant_amount": money_text(grant / n_schools, "dollars")
                    if year == 2023
                    else round(grant / n_schools, 2),
                    "students_enrolled": enrolled,
                    "students_participating": "n<16" if small else participating,
                    "skills_attainment_rate": "*"
                    if small
                    else _co_rate(base.uniform(0.4, 0.85) + 0.03 * (year - 2022), year),
                    "culture_survey_favorable_rate": _co_rate(drift.uniform(0.55, 0.92), year),
                    "chronic_absenteeism_rate": _co_rate(
                        base.uniform(0.08, 0.45) - 0.02 * (year - 2022), year
                    ),
                }
            )
        )
    sy = school_year_text(year, base.choice(("short", "long", "sy")))
    title = [
        ["Colorado Local Accountability Systems Grant: School Measures"],
        [f"District {district.state_code} - {district.name}"],
    ]
    title += [[f"School year {sy}"], []] if year != 2023 else []
    table = Table(
        headers("co_local_accountability", year, _CO_COLUMNS, _CO_RENAMED),
        rows,
        title,
        [
            [],
            ["Note: n<16 and * mark counts and rates for fewer than 16 students, suppressed for privacy."],
            ["End of Worksheet"],
        ],
    )
    return Layout(
        f"CO_LAS_{district.state_code}_{sy}.xlsx",
        table,
        "excel",
        sheet="School Measures",
        extra_sheets={
            "Instructions": [["Complete the School Measures sheet; one row per school."]],
            "Definitions": [["Skills attainment: share of participants meeting the framework."]],
        },
    )


# --- Kentucky: Local Laboratories of Learning (CSV, district x grade x competency) -----------------

_KY_COLUMNS = (
    "district",
    "district_name",
    "grade",
    "competency",
    "students_eligible",
    "students_defended",
    "students_proficient",
)
_KY_RENAMED = {
    2024: (
        "district",
        "district_name",
        "competency",
        "students_eligible",
        "students_defended",
        "students_proficient",
    )
}
_KY_EXTRA: dict[str, str | tuple[str, str]] = {"district_name": ("District Name", "District")}
_COMPETENCIES = ("Resiliency", "Cultural Competency", "Innovation", "Communication", "Collaboration")


def ky_local_labs(ctx: Context, district: District, year: int) -> Layout:
    """A district's Backpack of Success Skills defenses, 15 rows; columns renamed in 2024."""
    base, drift = ctx.rng("ky", district.district_id), ctx.rng("ky", district.district_id, year)
    size = base.choice((25, 60, 140, 400, 1300))
    marker, style = ("band", "plain") if year < 2024 else ("*", "thousands")  # 'band' writes '<10'
    rows = []
    for grade in ("5", "8", "12"):
        eligible = max(8, int(size * base.uniform(0.85, 1.1)) + drift.randint(-5, 5))
        for competency in _COMPETENCIES:
            defended = int(eligible * clamp(drift.uniform(0.4, 0.95) + 0.05 * (year - 2022), 0, 1))
            proficient = int(defended * drift.uniform(0.55, 0.95))
            rows.append(
                Row(
                    {
                        # 2022 pads the code with spaces (' 034 '), 2023 drops its leading zeros ('34')
                        "district": {
                            2022: f" {district.state_code} ",
                            2023: district.state_code.lstrip("0"),
                        }.get(year, district.state_code),
                        "district_name": district.name,
                        "grade": grade,
                        "competency": competency if year != 2023 else competency.lower().replace(" ", "_"),
                        "students_eligible": _suppressed_count(eligible, marker, style=style),
                        "students_defended": _suppressed_count(defended, marker, style=style),
                        "students_proficient": _suppressed_count(proficient, marker, style=style),
                    }
                )
            )
    sy = school_year_text(year, base.choice(("short", "long", "sy")))
    table = Table(headers("ky_local_labs", year, _KY_COLUMNS, _KY_RENAMED, _KY_EXTRA), rows)
    encoding = "utf-8-sig" if (int(district.state_code) + year) % 2 else "utf-8"
    return Layout(f"KY_LLL_{district.state_code}_{sy}.csv", table, "csv", encoding=encoding)


# --- Montana: Transformational Learning (pipe CSV, cp1252, compiled by OPI) ------------------------

_MT_COLUMNS = (
    "district",
    "district_name",
    "school_year",
    "students_enrolled",
    "students_proficiency_based",
    "students_remote_credit",
    "credits_by_proficiency",
    "work_based_learning_hours",
    "dual_credit_enrollments",
    "funding_amount",
)
_MT_RENAMED = {2024: ("students_proficiency_based", "students_remote_credit", "funding_amount")}
_MT_EXTRA: dict[str, str | tuple[str, str]] = {"district_name": "District Name"}


def mt_transformational_learning(ctx: Context, districts: list[District], year: int) -> Layout:
    """OPI's yearly compilation: a title row, a School Year column written three ways, a footer."""
    sy_style = {2022: "short", 2023: "sy_space"}.get(year, "date")
    rows = []
    for district in districts:
        base, drift = ctx.rng("mt", district.district_id), ctx.rng("mt", district.district_id, year)
        enrolled = base.choice((60, 150, 400, 1200, 4800, 9600)) + drift.randint(-20, 20)
        proficiency = int(enrolled * clamp(base.uniform(0.05, 0.4) + 0.05 * (year - 2022), 0, 1))
        remote = int(proficiency * base.uniform(0.02, 0.3))
        dual = int(enrolled * base.uniform(0.0, 0.06))
        rows.append(
            Row(
                {
                    "district": district.nces_lea_id,
                    "district_name": district.name,
                    "school_year": school_year_text(year, sy_style),
                    "students_enrolled": count_text(enrolled, "thousands"),
                    "students_proficiency_based": count_text(proficiency, "thousands"),
                    "students_remote_credit": _suppressed_count(remote, "*"),
                    "credits_by_proficiency": f"{proficiency * drift.uniform(0.5, 2.5):.1f}",
                    "work_based_learning_hours": count_text(
                        int(enrolled * drift.uniform(0.5, 6)), "thousands"
                    ),
                    "dual_credit_enrollments": _suppressed_count(dual, "--", threshold=5),
                    "funding_amount": money_text(
                        base.randrange(10_000, 250_000, 500), "dollars" if year < 2024 else "plain"
                    ),
                }
            )
        )
    sy = school_year_text(year, "sy")
    table = Table(
        headers("mt_transformational_learning", year, _MT_COLUMNS, _MT_RENAMED, _MT_EXTRA),
        rows,
        title=[[f"Montana Office of Public Instruction – Transformational Learning Program Report {sy}"]],
        footer=[
            ["Source: district TLA reports compiled by OPI. * and -- mark counts under 10 and 5."],
            ["End of Worksheet"],
        ],
    )
    return Layout(f"MT_OPI_TLA_{sy}.csv", table, "csv", encoding="cp1252", delimiter="|", newline="\r\n")


# --- New Hampshire: Learn Everywhere (JSON from approved providers, a row per student credit) -------

_NH_COLUMNS = (
    "student_id",
    "provider_name",
    "program_name",
    "subject_area",
    "credits_awarded",
    "date_awarded",
    "district",
)
_NH_RENAMED = {2024: ("student_id", "program_name", "subject_area", "credits_awarded", "date_awarded")}
NH_PROVIDERS = {
    "friends-forever-international": (
        "Friends Forever International",
        [
            ("Global Leadership Lab", "Social Studies"),
            ("Community Problem Solving", "Social Studies"),
            ("Peace Through Art", "Creativity & Arts"),
        ],
    ),
    "nh-academy-of-science": (
        "NH Academy of Science",
        [
            ("Hands-on Engineering", "Science"),
            ("Field Biology Research", "Science"),
            ("Lab Safety and Health", "Health"),
        ],
    ),
    "granite-state-arts-collective": (
        "Granite State Arts Collective",
        [
            ("Studio Painting", "Creativity & Arts"),
            ("Theatre Workshop", "Creativity & Arts"),
            ("Movement and Wellness", "Health"),
        ],
    ),
    "seacoast-pathways-center": (
        "Seacoast Pathways Center",
        [
            ("Adaptive Life Skills", "Special Education Electives"),
            ("Civics in Action", "Social Studies"),
            ("Nutrition and Fitness", "Health"),
        ],
    ),
}


def nh_students(ctx: Context, slug: str) -> list[tuple[str, District]]:
    """A provider's student pool: the same students (ID, resident district) every year."""
    rng = ctx.rng("nh-pool", slug)
    districts = rng.sample(ctx.directory["NH"], 14)
    numbers = rng.sample(range(10_000_000, 99_999_999), rng.randint(260, 340))
    return [(f"99{n:08d}", rng.choice(districts)) for n in numbers]


def nh_learn_everywhere(ctx: Context, slug: str, year: int) -> Layout:
    """A provider's credits for the year: JSON records, keys renamed in 2024, district spellings vary."""
    provider, programs = NH_PROVIDERS[slug]
    rng = ctx.rng("nh", slug, year)
    rows = []
    for student_id, district in nh_students(ctx, slug):
        if rng.random() > 0.75:  # not every student takes a program every year
            continue
        for program, subject in rng.sample(programs, rng.choice((1, 1, 2))):
            month, day = rng.choice((10, 12, 1, 3, 5, 6)), rng.randint(1, 28)
            awarded = f"{year - (month >= 7)}-{month:02d}-{day:02d}"
            credits = rng.choice((0.25, 0.5, 0.5, 1.0, 1.0, 1.5))
            rows.append(
                Row(
                    {
                        "student_id": student_id,
                        "provider_name": provider,
                        "program_name": program,
                        "subject_area": subject
                        if year != 2023
                        else subject.lower().replace(" & ", "_").replace(" ", "_"),
                        "credits_awarded": credits if year != 2022 else f"{credits:.2f}",
                        "date_awarded": awarded,
                        "district": rng.choice(ctx.spellings(district)),
                    }
                )
            )
    sy = school_year_text(year, ("short", "long", "sy")[year % 3])
    table = Table(headers("nh_learn_everywhere", year, _NH_COLUMNS, _NH_RENAMED), rows)
    return Layout(
        f"NH_LE_{slug}_{sy}.json",
        table,
        "json",
        envelope={"provider": provider, "school_year": sy, "submitted_on": f"{year}-07-10"},
    )


# --- North Dakota: Innovative Education waiver register (semicolon CSV, compiled by DPI) -----------

_ND_COLUMNS = (
    "district",
    "district_name",
    "waiver_rule",
    "granted_date",
    "schools_covered",
    "students_served",
    "students_meeting_standards",
)
_ND_RENAMED = {2023: ("students_meeting_standards",)}
_ND_EXTRA: dict[str, str | tuple[str, str]] = {"district_name": "District Name"}
_WAIVER_RULES = ("School Day Length", "Accreditation", "Compulsory Attendance", "Curriculum", "Testing")


def nd_innovative_education(ctx: Context, districts: list[District], year: int) -> Layout:
    """DPI's waiver register: one row per waiver; the proficiency column renamed after 2022."""
    rows = []
    for district in districts:
        base, drift = ctx.rng("nd", district.district_id), ctx.rng("nd", district.district_id, year)
        many = district.name in ("Prairie Rose 97", "Wheatland 6")
        rules = _WAIVER_RULES if many else base.sample(_WAIVER_RULES, base.choice((1, 1, 2)))
        served_total = base.choice((45, 120, 380, 900, 2600))
        for rule in rules:
            granted_year = 2021 + base.randint(0, 1)
            month, day = base.randint(6, 9), base.randint(1, 28)
            served = max(5, int(served_total * drift.uniform(0.3, 1.0)))
            meeting = int(served * clamp(drift.uniform(0.35, 0.8) + 0.04 * (year - 2022), 0, 1))
            rows.append(
                Row(
                    {
                        "district": district.nces_lea_id,
                        "district_name": district.name,
                        "waiver_rule": rule,
                        "granted_date": f"{month:02d}/{day:02d}/{granted_year}"
                        if year == 2023
                        else f"{granted_year}-{month:02d}-{day:02d}",
                        "schools_covered": base.randint(1, 9),
                        "students_served": _suppressed_count(served, "PS"),
                        "students_meeting_standards": _suppressed_count(meeting, "PS"),
                    }
                )
            )
    sy = school_year_text(year, "long")
    table = Table(headers("nd_innovative_education", year, _ND_COLUMNS, _ND_RENAMED, _ND_EXTRA), rows)
    return Layout(f"ND_DPI_IEP_Waivers_{sy}.csv", table, "csv", delimiter=";")


# --- Utah: PCBL grants (Excel per district, name spellings vary) -----------------------------------

_UT_COLUMNS = (
    "district",
    "pathway",
    "grant_amount",
    "teachers_microcredentialed",
    "pathway_enrollments",
    "students_served",
)
_UT_RENAMED = {2023: ("grant_amount", "teachers_microcredentialed")}
_PATHWAYS = ("CTE", "STEM", "IB", "AP", "PCBL")


def ut_pcbl_grants(ctx: Context, district: District, year: int) -> Layout:
    """A district's PCBL grant report: a cover sheet, then the report under two title rows."""
    base, drift = ctx.rng("ut", district.district_id), ctx.rng("ut", district.district_id, year)
    pathways = (
        _PATHWAYS if district.name.startswith("Canyon Arch") else ["PCBL", *base.sample(_PATHWAYS[:4], 2)]
    )
    spelling = drift.choice(ctx.spellings(district))
    rows = []
    for pathway in pathways:
        teachers = base.randint(4, 45) + drift.randint(0, 6)
        enrollments = base.randint(30, 900) + drift.randint(-20, 40)
        rows.append(
            Row(
                {
                    "district": spelling,
                    "pathway": pathway,
                    "grant_amount": base.randrange(20_000, 150_000, 1_000)
                    if year != 2023
                    else money_text(base.randrange(20_000, 150_000, 1_000), "dollars"),
                    "teachers_microcredentialed": count_marker(teachers, "or_less", 16) or teachers,
                    "pathway_enrollments": enrollments,
                    "students_served": int(enrollments * drift.uniform(1.0, 1.6)),
                }
            )
        )
    sy = school_year_text(year, ("sy", "short", "long")[year % 3])
    table = Table(
        headers("ut_pcbl_grants", year, _UT_COLUMNS, _UT_RENAMED),
        rows,
        title=[
            ["Utah State Board of Education: PCBL Grant Report"],
            [f"LEA: {spelling}", f"School year {sy}"],
            [],
        ],
    )
    cover = [["Personalized Competency-Based Learning grant"], ["LEA", spelling], ["School year", sy]]
    return Layout(
        f"UT_PCBL_{district.slug}_{sy}.xlsx",
        table,
        "excel",
        sheet="PCBL Report",
        extra_sheets={"Cover": cover},
    )


# --- Washington: Mastery-based Learning (semicolon CSV, cp1252, percents) --------------------------

_WA_COLUMNS = (
    "district",
    "district_name",
    "educators_in_pd",
    "students_mastery_based",
    "mastery_credits_awarded",
    "postsecondary_ready_rate",
)
_WA_RENAMED = {2024: ("district", "educators_in_pd")}
_WA_EXTRA: dict[str, str | tuple[str, str]] = {"district_name": "District Name"}


def wa_mastery_learning(ctx: Context, districts: list[District], year: int) -> Layout:
    """OSPI's compilation: two title rows, percents as '85%' (2023: bare '85.0'), a note row."""
    rows = []
    for district in districts:
        base, drift = ctx.rng("wa", district.district_id), ctx.rng("wa", district.district_id, year)
        students = base.choice((12, 18, 90, 400, 1500, 5200)) + drift.randint(0, 5)
        ready = clamp(base.uniform(0.35, 0.8) + 0.03 * (year - 2022), 0.05, 0.98)
        small = students < 25
        rows.append(
            Row(
                {
                    "district": district.nces_lea_id,
                    "district_name": district.name,
                    "educators_in_pd": base.randint(4, 60) + drift.randint(0, 20),
                    "students_mastery_based": count_text(students, "thousands"),
                    "mastery_credits_awarded": f"{students * drift.uniform(0.5, 3):.1f}",
                    "postsecondary_ready_rate": rate_marker(ready, base.choice(("ge50", "band")))
                    if small
                    else f"{ready * 100:.0f}%"
                    if year != 2023
                    else f"{ready * 100:.1f}",
                }
            )
        )
    sy = school_year_text(year, "short")
    table = Table(
        headers("wa_mastery_learning", year, _WA_COLUMNS, _WA_RENAMED, _WA_EXTRA),
        rows,
        title=[
            ["Office of Superintendent of Public Instruction – Mastery-Based Learning Collaborative"],
            [f"Participating districts, school year {sy}"],
        ],
        footer=[["Note: GE50 and 5-point bands (80-84) replace rates for fewer than 25 students’ records."]],
    )
    return Layout(f"WA_OSPI_MBL_{sy}.csv", table, "csv", encoding="cp1252", delimiter=";", newline="\r\n")


# --- State outcome feeds: every district of a state, plus a State Total row -------------------------

_OUTCOME_COLUMNS = (
    "district",
    "nces_lea_id",
    "district_name",
    "enrollment",
    "chronic_absent_count",
    "chronic_absenteeism_rate",
    "graduation_rate_4yr",
    "college_enrollment_rate",
    "discipline_rate",
    "teacher_retention_rate",
    "student_engagement_rate",
)
_OUTCOME_RENAMED = {2024: ("chronic_absent_count", "graduation_rate_4yr")}
_OUTCOME_EXTRA: dict[str, str | tuple[str, str]] = {"nces_lea_id": "NCES LEA ID"}
_OUTCOME_RATES = list(_OUTCOME_COLUMNS)[5:]


@dataclass(frozen=True)
class OutcomeStyle:
    """How one state writes its outcome file."""

    encoding: str
    rate_style: str  # fraction | percent_sign
    count_marker: str
    rate_marker: str
    count_threshold: int = 10


OUTCOME_STYLES = {
    "CO": OutcomeStyle("cp1252", "fraction", "*", "*"),
    "KY": OutcomeStyle("utf-8-sig", "percent_sign", "band", "band"),
    "MT": OutcomeStyle("utf-8", "fraction", "--", "*"),
    "NH": OutcomeStyle("utf-8", "percent_sign", "*", "band"),
    "ND": OutcomeStyle("utf-8", "fraction", "PS", "PS"),
    "UT": OutcomeStyle("utf-8", "percent_sign", "n_band", "ge50", count_threshold=16),
    "WA": OutcomeStyle("cp1252", "fraction", "*", "band"),
}


def _outcome_figures(ctx: Context, district: District, year: int) -> dict[str, Any]:
    base, drift = ctx.rng("out", district.district_id), ctx.rng("out", district.district_id, year)
    enrollment = max(12, int(base.lognormvariate(6.6, 1.3)) + drift.randint(-10, 10))
    chronic = clamp(base.uniform(0.08, 0.42) + drift.uniform(-0.03, 0.03) - 0.015 * (year - 2022), 0.03, 0.9)
    has_high_school = not district.name.endswith("Elementary")
    return {
        "enrollment": enrollment,
        "chronic_absent_count": round(enrollment * chronic),
        "chronic_absenteeism_rate": chronic,
        "graduation_rate_4yr": clamp(base.uniform(0.7, 0.96) + drift.uniform(-0.02, 0.02), 0, 0.99)
        if has_high_school
        else None,
        "college_enrollment_rate": clamp(base.uniform(0.35, 0.75) + drift.uniform(-0.03, 0.03), 0, 1)
        if has_high_school
        else None,
        "discipline_rate": clamp(base.uniform(0.01, 0.08) + drift.uniform(-0.005, 0.005), 0.002, 1),
        "teacher_retention_rate": clamp(base.uniform(0.72, 0.93) + drift.uniform(-0.03, 0.03), 0, 1),
        "student_engagement_rate": clamp(base.uniform(0.55, 0.85) + drift.uniform(-0.03, 0.03), 0, 1),
    }


def _outcome_cells(figures: dict[str, Any], style: OutcomeStyle) -> dict[str, Any]:
    # Small counts are suppressed, and so is the rate that would give a suppressed count back
    # (complementary suppression); every rate of a district under 30 students is suppressed too.
    enrollment, absent = figures["enrollment"], figures["chronic_absent_count"]
    cells: dict[str, Any] = {
        "enrollment": count_text(enrollment, "thousands"),
        "chronic_absent_count": _suppressed_count(absent, style.count_marker, style.count_threshold),
    }
    for key in _OUTCOME_RATES:
        value = figures[key]
        hides_count = key == "chronic_absenteeism_rate" and absent < style.count_threshold
        if value is None:
            cells[key] = ""
        elif enrollment < 30 or hides_count:
            cells[key] = rate_marker(value, style.rate_marker)
        else:
            cells[key] = rate_text(value, style.rate_style)
    return cells


def _state_total(rows: list[dict[str, Any]], style: OutcomeStyle) -> dict[str, Any]:
    enrollment = sum(r["enrollment"] for r in rows)
    total: dict[str, Any] = {
        "enrollment": enrollment,
        "chronic_absent_count": sum(r["chronic_absent_count"] for r in rows),
    }
    for key in _OUTCOME_RATES:
        weighted = [(r[key], r["enrollment"]) for r in rows if r[key] is not None]
        total[key] = sum(v * n for v, n in weighted) / sum(n for _, n in weighted)
    cells = {
        k: (rate_text(v, style.rate_style) if k in _OUTCOME_RATES else count_text(v, "thousands"))
        for k, v in total.items()
    }
    return {"district": "", "nces_lea_id": "", "district_name": "State Total", **cells}


def state_outcomes(ctx: Context, state: str, year: int) -> Layout:
    """A state's outcome file: every district in the directory, participating or not, and a total."""
    style = OUTCOME_STYLES[state]
    figures = [(d, _outcome_figures(ctx, d, year)) for d in ctx.directory[state]]
    rows = [
        Row(
            {
                "district": d.state_code,
                "nces_lea_id": d.nces_lea_id,
                "district_name": "Cañon City RE-1" if d.district_id == "CO-1140" else d.name,
                **_outcome_cells(f, style),
            }
        )
        for d, f in figures
    ]
    rows.append(Row(_state_total([f for _, f in figures], style)))
    sy = school_year_text(year, "short" if state in ("CO", "KY", "UT") else "long")
    table = Table(headers("state_outcomes", year, _OUTCOME_COLUMNS, _OUTCOME_RENAMED, _OUTCOME_EXTRA), rows)
    return Layout(f"{state}_state_outcomes_{sy}.csv", table, "csv", encoding=style.encoding)
