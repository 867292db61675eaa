-- The seven programs on one grain: program, district, school year, measure (long format).
-- Values here are as received (true values, before small-cell suppression): this schema is for
-- engineers, not analysts.
with

unioned as (

    {% for program in ['co_local_accountability', 'ky_local_labs', 'mt_transformational_learning',
                       'nh_learn_everywhere', 'nd_innovative_education', 'ut_pcbl_grants',
                       'wa_mastery_learning'] %}
    select * from {{ ref('int_' ~ program ~ '__district_measures') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
where district_id is not null
