"""The contracts of the real state files the contract tests land (NH fall enrollment, EDFacts
graduation cohorts, KIDS COUNT graduation years), shared by those tests and test_reference."""

from __future__ import annotations

GRADES = ["PreSchool", "Kindergarten", "Elementary", "Middle", "High", "PG"]

NH_CONTRACT = {
    "source": "nh_fall_enrollment",
    "title": "NH district fall enrollment (NH DOE)",
    "state": "NH",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "one district's fall enrollment",
    "submitter": "state",
    "due": {"month": 12, "day": 31},
    "file": {
        "pattern": r"^nh_doe_district_fall_enrollments_(?P<school_year>\d{4}-\d{2})\.xlsx$",
        "format": "excel",
    },
    "rows": {
        "stop_at": [{"equals": "Foot Notes"}],
        "skip": [
            # the header repeated above each section
            {"column": "SAU #", "equals": "SAU #"},
            # section titles and totals: no district number, and a title or a "... Total:" name
            {
                "all": [
                    {"column": "District #", "blank": True},
                    {
                        "any": [
                            {"column": "Total", "blank": True},
                            {"column": "District Name", "matches": "Total:$"},
                        ]
                    },
                ]
            },
        ],
        "state_total": {
            "all": [
                {"column": "District Name", "equals": "State Totals"},
                {"column": "District #", "blank": True},
            ]
        },
    },
    "district": {"scheme": "state_code", "column": "District #", "width": 3},
    "fields": [
        {"name": "district_name", "source": "District Name", "type": "text", "required": False},
        {"name": "preschool", "source": ["PreSchool", "Pre School"], "type": "integer", "min": 0},
        *[{"name": g.lower(), "source": g, "type": "integer", "min": 0} for g in GRADES[1:]],
        {"name": "total", "source": ["Total", "Total "], "type": "integer", "min": 0},
    ],
    "natural_key": ["district_id"],
}


FIPS = ["08", "21", "30", "33", "38", "49", "53"]

EDFACTS_CONTRACT = {
    "source": "us_edfacts_acgr",
    "title": "EDFacts four-year adjusted cohort graduation rate by school",
    "state": "US",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "one school's graduation cohort in one school year",
    "submitter": "state",
    "due": {"month": 12, "day": 31, "year_offset": 1},
    "file": {"pattern": r"^us_edfacts_acgr_school_sy(?P<school_year>\d{4}-\d{2})\.csv$", "format": "csv"},
    "rows": {"keep": [{"column": "FIPST", "in": FIPS}]},
    "district": {"scheme": "nces_lea_id", "column": "LEAID"},
    "school_year": {"min_year": 2010},
    "suppression": {"markers": ["PS", "."]},
    "fields": [
        {"name": "school_id", "source": "NCESSCH", "type": "text"},
        {"name": "school_name", "source": "SCHNAM", "type": "text", "required": False},
        {
            "name": "all_cohort",
            "source": {"pattern": r"ALL_COHORT_(\d{4})"},
            "type": "integer",
            "min": 0,
            "suppressible": True,
        },
        {
            "name": "all_rate",
            "source": {"pattern": r"ALL_RATE_(\d{4})"},
            "type": "rate",
            "format": "percent",
            "suppressible": True,
        },
        {
            "name": "ecd_rate",
            "source": {"pattern": r"ECD_RATE_(?P<school_year>\d{4})"},
            "type": "rate",
            "format": "percent",
            "required": False,  # blank in a few schools' rows
            "suppressible": True,
        },
    ],
    "natural_key": ["school_id"],
}


KIDSCOUNT_CONTRACT = {
    "source": "ky_kidscount_grad_years",
    "title": "KIDS COUNT averaged freshman graduation (KY)",
    "state": "KY",
    "program": "state_outcomes",
    "kind": "outcomes",
    "entity": "a district's graduates in one school year",
    "submitter": "state",
    "due": {"month": 12, "day": 31},
    "file": {"pattern": r"^ky_kidscount_hs_graduation_rates_.*\.csv$", "format": "csv"},
    "rows": {
        "keep": [{"column": "DataFormat", "equals": "Number"}],
        "state_total": {
            "all": [
                {"column": "LocationType", "equals": "State"},
                {"column": "Location", "equals": "Kentucky"},
            ]
        },
    },
    "district": {"scheme": "name", "column": "Location"},
    "school_year": {"source": "column", "column": "TimeFrame", "several": True},
    "suppression": {"markers": ["*", "**"]},
    "fields": [{"name": "graduates", "source": "Data", "type": "integer", "min": 0, "suppressible": True}],
    "natural_key": ["district_id"],
}
