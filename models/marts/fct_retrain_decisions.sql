{#- What each run decided per live series, for planners: re-select the
    champion (backtest and selection), refit it on new data, or reuse the last
    forecast, with the reason in words, the measures behind it, any override,
    and the model fits it cost (n_fits: backtest fits plus refits; summed per
    run_id, the fits of a run). Appended per good run. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook="{{ rename_columns({'forecast_model': 'model_name', 'forecast_method': 'method'}) }}",
) }}
-- depends_on: {{ ref('gate_forecast') }}

with

decisions as (

    select * from {{ ref('int_forecast__decisions') }}

),

backtest_fits as (

    select
        series_id,
        cast(sum(n_fits) as bigint) as n_backtest_fits
    from {{ ref('int_forecast__backtest') }}
    group by all

),

forecasts as (

    select
        series_id,
        any_value(model_name) as model_name,
        any_value(method) as method,  -- noqa: RF04
        any_value(n_refits) as n_refits
    from {{ ref('int_forecast__predictions') }}
    group by all

),

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

series as (

    select * from {{ ref('dim_series') }}

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
        series.plant_name,
        series.product_name,
        series.product_group,

        -- the decision
        decisions.decision,
        decisions.reason,
        decisions.detail,
        decisions.previous_run_id,
        decisions.previous_champion,
        champions.champion,
        forecasts.model_name,
        forecasts.method,
        decisions.override_action,
        decisions.override_model,
        decisions.override_reason,

        -- the measures behind it
        decisions.demand_class,
        decisions.previous_demand_class,
        decisions.n_new_periods,
        decisions.age_limit,
        decisions.live_mase,
        decisions.backtest_mase,
        decisions.n_live_periods,
        decisions.level_shift_z,
        decisions.variance_ratio,

        -- what it cost
        decisions.is_backtested,
        coalesce(backtest_fits.n_backtest_fits, 0) as n_backtest_fits,
        coalesce(forecasts.n_refits, 0) as n_refits,
        coalesce(backtest_fits.n_backtest_fits, 0)
        + coalesce(forecasts.n_refits, 0) as n_fits,

        -- the run
        decisions.history_fingerprint,
        context.forecast_origin,
        context.started_at as decided_at
    from decisions
    inner join series
        on decisions.series_id = series.series_id
    left join backtest_fits
        on decisions.series_id = backtest_fits.series_id
    left join forecasts
        on decisions.series_id = forecasts.series_id
    left join champions
        on decisions.series_id = champions.series_id
    cross join context
    {% if is_incremental() %}
        where
            context.run_id not in (
                select distinct published.run_id from {{ this }} as published
            )
    {% endif %}

)

select * from final
