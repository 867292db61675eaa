{#- Generated from programs/*.yml by `innovation-pipeline contracts sync`: edit the contracts,
    not this file. Every source with its program, kind and models; the union models and dim_district
    loop over it instead of a hand-kept list. -#}

{% macro contract_registry() -%}
    {{ return(fromjson('[
    {
        "source": "co_chronic_absenteeism",
        "program_id": "state_outcomes",
        "kind": "outcomes",
        "staging_model": "stg_co_chronic_absenteeism__district_absenteeism",
        "measures_model": "int_co_chronic_absenteeism__district_measures"
    },
    {
        "source": "co_local_accountability",
        "program_id": "co_local_accountability",
        "kind": "program",
        "staging_model": "stg_co_local_accountability__school_measures",
        "measures_model": "int_co_local_accountability__district_measures"
    },
    {
        "source": "ky_local_labs",
        "program_id": "ky_local_labs",
        "kind": "program",
        "staging_model": "stg_ky_local_labs__competency_defenses",
        "measures_model": "int_ky_local_labs__district_measures"
    },
    {
        "source": "mt_transformational_learning",
        "program_id": "mt_transformational_learning",
        "kind": "program",
        "staging_model": "stg_mt_transformational_learning__district_participation",
        "measures_model": "int_mt_transformational_learning__district_measures"
    },
    {
        "source": "nd_innovative_education",
        "program_id": "nd_innovative_education",
        "kind": "program",
        "staging_model": "stg_nd_innovative_education__waivers",
        "measures_model": "int_nd_innovative_education__district_measures"
    },
    {
        "source": "nh_learn_everywhere",
        "program_id": "nh_learn_everywhere",
        "kind": "program",
        "staging_model": "stg_nh_learn_everywhere__student_credits",
        "measures_model": "int_nh_learn_everywhere__district_measures"
    },
    {
        "source": "state_outcomes",
        "program_id": "state_outcomes",
        "kind": "outcomes",
        "staging_model": "stg_state_outcomes__district_outcomes",
        "measures_model": "int_state_outcomes__district_measures"
    },
    {
        "source": "ut_pcbl_grants",
        "program_id": "ut_pcbl_grants",
        "kind": "program",
        "staging_model": "stg_ut_pcbl_grants__pathways",
        "measures_model": "int_ut_pcbl_grants__district_measures"
    },
    {
        "source": "wa_mastery_learning",
        "program_id": "wa_mastery_learning",
        "kind": "program",
        "staging_model": "stg_wa_mastery_learning__district_participation",
        "measures_model": "int_wa_mastery_learning__district_measures"
    }
]')) }}
{%- endmacro %}
