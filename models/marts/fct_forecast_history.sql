{#- Every good run's forecast, appended: what was promised when, so accuracy
    can be judged as actuals arrive. Keyed by the run's frequency, horizon
    and season length, so forecasts of a monthly and a weekly build sharing a
    warehouse are never scored against each other's actuals. Rows appended
    before those columns existed get them once, in place, from the rows
    themselves (post-hook; macro backfill_forecast_history). A reused
    forecast is appended again under the run that reused it, with the run
    that made it (forecast_run_id) and when; rows appended before that column
    existed get it from fct_model_registry (macro backfill_forecast_run). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ backfill_forecast_history() }}",
        "{{ backfill_forecast_run() }}",
    ],
) }}

with

forecast as (

    select * from {{ ref('fct_demand_forecast') }}

),

intervals as (
    -- every level of the var levels, as columns (fct_demand_forecast holds 80
    -- and 95 only)

    select
        {{ interval_pivot() }}
        series_id,
        period_start
    from {{ ref('fct_demand_forecast_intervals') }}
    group by all

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        forecast.plant_id,
        forecast.product_id,
        forecast.series_id,
        forecast.period_start,
        forecast.step,
        forecast.plant_name,
        forecast.product_name,
        forecast.forecast,
        {{ interval_columns('intervals') }}
        forecast.model_name,
        forecast.method,
        forecast.fallback_reason,
        forecast.demand_class,
        forecast.run_id,
        forecast.forecast_origin,
        forecast.forecast_run_id,
        forecast.forecast_created_at,
        context.frequency,
        context.horizon,
        context.season_length,
        forecast.product_group,
        forecast.lifecycle,
        forecast.statistical_forecast,
        forecast.override_quantity,
        forecast.override_reason,
        forecast.override_set_by,
        forecast.previous_run_id
    from forecast
    inner join context
        on forecast.run_id = context.run_id
    left join intervals
        on
            forecast.series_id = intervals.series_id
            and forecast.period_start = intervals.period_start
    {% if is_incremental() %}
        where
            forecast.run_id not in (
                select distinct published.run_id from {{ this }} as published
            )
    {% endif %}

)

select * from final
