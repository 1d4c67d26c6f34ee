{#- The forecast planners read: one row per series and future period of the
    latest good run, so a BI tool needs no join: the plant's and product's
    names, group, demand class and lifecycle (from dim_series); the
    statistical forecast, a planner's override of the quantity and the final
    forecast planners plan with; intervals (of the statistical forecast); the
    model behind it in planner words and its backtest MASE; the run before
    this one and its forecast of the same period; and when the forecast was
    made: a series whose forecast this run reused keeps the run that made it
    (forecast_run_id) and that run's start. Built only when the forecast gate
    has passed, so a failed run leaves it as it was. -#}
-- depends_on: {{ ref('gate_forecast') }}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

series as (

    select * from {{ ref('dim_series') }}

),

decisions as (

    select * from {{ ref('int_forecast__decisions') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

overrides as (

    select * from {{ ref('int_forecast__quantity_overrides') }}

),

previous as (

    select * from {{ ref('int_forecast__previous') }}

),

previous_run as (

    select max(previous_run_id) as previous_run_id from previous

),

final as (

    select
        -- keys
        series.plant_id,
        series.product_id,
        predictions.series_id,
        predictions.period_start,
        predictions.step,

        -- names and segments
        series.plant_name,
        series.product_name,
        series.product_group,
        series.demand_class,
        series.lifecycle,

        -- forecast: the final figure, the statistical one, the override
        coalesce(
            overrides.override_quantity, predictions.forecast
        ) as forecast,
        predictions.forecast as statistical_forecast,
        overrides.override_quantity,
        overrides.override_reason,
        overrides.override_set_by,
        {{ interval_columns('predictions') }}

        -- provenance
        predictions.model_name,
        demandcast_model_description(
            predictions.model_name
        ) as model_description,
        predictions.method,
        predictions.fallback_reason,
        case
            when predictions.method = 'champion' then champions.champion_mase
        end as backtest_mase,

        -- since the last run
        previous_run.previous_run_id,
        previous.previous_forecast,
        coalesce(overrides.override_quantity, predictions.forecast)
        - previous.previous_forecast as forecast_change,
        context.run_id,
        context.forecast_origin,
        decisions.forecast_run_id,
        case
            when decisions.decision = 'reuse' then decisions.trained_at
            else context.started_at
        end as forecast_created_at
    from predictions
    inner join series
        on predictions.series_id = series.series_id
    inner join decisions
        on predictions.series_id = decisions.series_id
    cross join context
    cross join previous_run
    left join champions
        on predictions.series_id = champions.series_id
    left join overrides
        on
            predictions.series_id = overrides.series_id
            and predictions.period_start = overrides.period_start
    left join previous
        on
            predictions.series_id = previous.series_id
            and predictions.period_start = previous.period_start

)

select * from final
