{#- The model registry, and each run's memory of the last: per good run and
    live series, the model that forecasts it, the settings and the history it
    was fitted on (hash and fingerprint), when and with which package versions
    it was trained, and why (the run's decision). Appended, never rewritten;
    the next run decides from each series' latest row (int_forecast__decisions
    reads this table as the source memory: it is built downstream). Rows of
    runs older than memory_keep_runs that no series needs are deleted by the
    post-hook (macro prune_memory). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook="{{ rename_columns({'forecast_method': 'method'}) }}",
    post_hook="{{ prune_memory('fct_model_registry') }}",
) }}
-- depends_on: {{ ref('gate_forecast') }}

with

decisions as (

    select * from {{ ref('int_forecast__decisions') }}

),

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

methods as (

    select
        series_id,
        any_value(method) as method  -- noqa: RF04
    from {{ ref('int_forecast__predictions') }}
    group by all

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
        decisions.series_id,
        series.plant_id,
        series.product_id,

        -- the model
        champions.champion,
        methods.method,
        champions.selection_metric,
        champions.champion_score,
        champions.champion_mase,
        champions.runner_up,
        champions.runner_up_score,
        champions.n_candidates,
        champions.n_windows,
        champions.class_champion,
        coalesce(
            champions.reason,
            'no champion: forecast by the ' || methods.method
            || ' method'
        ) as reason,
        series.demand_class,
        champions.scale_mae,
        champions.interval_scale,

        -- why this run did what it did
        decisions.decision,
        decisions.reason as decision_reason,
        decisions.detail as decision_detail,
        decisions.override_action,
        decisions.override_model,
        decisions.override_reason,

        -- what it was fitted on, when, with what
        decisions.settings_hash,
        decisions.catalog_hash,
        decisions.settings,
        decisions.history_fingerprint,
        decisions.history_start,
        decisions.history_periods,
        decisions.selected_run_id,
        decisions.selected_origin,
        decisions.trained_at,
        decisions.statsforecast_version,
        decisions.demandcast_version,

        -- the run
        context.forecast_origin,
        context.frequency,
        context.horizon,
        context.season_length,
        context.candidates as candidate_set,
        context.started_at as registered_at
    from decisions
    inner join series
        on decisions.series_id = series.series_id
    left join champions
        on decisions.series_id = champions.series_id
    left join methods
        on decisions.series_id = methods.series_id
    cross join context
    {% if is_incremental() %}
        where
            context.run_id not in (
                select distinct published.run_id from {{ this }} as published
            )
    {% endif %}

)

select * from final
