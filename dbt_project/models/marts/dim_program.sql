-- One row per program (and the shared outcome feed), from seeds/programs.csv.
with

programs as (

    select * from {{ ref('programs') }}

),

sources as (

    select
        program_id,
        string_agg(source, ', ' order by source) as sources
    from {{ ref('program_sources') }}
    group by program_id

)

select
    cast(programs.program_id as text) as program_id,
    cast(programs.state as text) as state,
    cast(programs.program_name as text) as program_name,
    cast(programs.state_agency as text) as state_agency,
    cast(programs.submitter_kind as text) as submitter_kind,
    cast(programs.participant_definition as text) as participant_definition,
    cast(programs.description as text) as description,
    cast(programs.program_id <> 'state_outcomes' as boolean) as is_innovation_program,
    cast(sources.sources as text) as sources
from programs
left join sources
    on programs.program_id = sources.program_id
