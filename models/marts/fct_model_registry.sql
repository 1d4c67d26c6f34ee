{#- The model registry: each good run's champion per series, appended and
    versioned by run id. Never rewritten. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
) }}
-- depends_on: {{ ref('gate_forecast') }}

with

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

series as (

    select * from {{ ref('int_series__profiled') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        -- keys
        context.run_id,
        champions.series_id,
        series.plant_id,
        series.product_id,

        -- the choice
        champions.champion,
        champions.selection_metric,
        champions.champion_score,
        champions.runner_up,
        champions.runner_up_score,
        champions.n_candidates,
        champions.n_windows,
        champions.class_champion,
        champions.reason,
        series.demand_class,

        -- the run
        context.forecast_origin,
        context.frequency,
        context.horizon,
        context.season_length,
        context.candidates as candidate_set,
        context.started_at as registered_at
    from champions
    inner join series
        on champions.series_id = series.series_id
    cross join context
    {% if is_incremental() %}
        where
            context.run_id not in (
                select distinct published.run_id from {{ this }} as published
            )
    {% endif %}

)

select * from final
