{#- The forecast planners read: one row per series and future period of the
    latest good run, with intervals, the model behind it, and the plant's and
    product's names (from dim_series) so a BI tool needs no join, and when the
    forecast was made: a series whose forecast this run reused keeps the run
    that made it (forecast_run_id) and that run's start. Planned launches
    without orders yet (int_forecast__launches, method launch) follow, with
    the same columns (those of dim_series null). Built only when the
    forecast gate has passed, so a failed run leaves it as it was. -#}
-- depends_on: {{ ref('gate_forecast') }}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

coherent as (
    -- the base level of the coherent set (int_forecast__levels): the champion's
    -- forecast, moved by reconciliation only where that won its backtest

    select * from {{ ref('int_forecast__levels') }}
    where level = 'plant_product'

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

final as (

    select
        -- keys
        series.plant_id,
        series.product_id,
        predictions.series_id,
        predictions.period_start,
        predictions.step,

        -- names
        series.plant_name,
        series.product_name,

        -- forecast
        coherent.forecast,
        {{ interval_columns('coherent') }}

        -- provenance
        predictions.model_name,
        predictions.method,
        predictions.fallback_reason,
        series.demand_class,
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
    inner join coherent
        on
            predictions.series_id = coherent.level_key
            and predictions.step = coherent.step
    cross join context

),

launches as (

    select * from {{ ref('int_forecast__launches') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

plants as (

    select * from {{ ref('stg_erp__plants') }}

),

launched as (

    select
        planned.plant_id,
        planned.product_id,
        launches.series_id,
        launches.period_start,
        launches.step,
        plants.plant_name,
        products.product_name,
        launches.forecast,
        {{ interval_columns('launches') }}
        launches.model_name,
        launches.method,
        launches.fallback_reason,
        context.run_id,
        context.forecast_origin,
        context.run_id as forecast_run_id,
        context.started_at as forecast_created_at
    from launches
    inner join {{ ref('stg_erp__launches') }} as planned
        on launches.series_id = planned.series_id
    left join products
        on planned.product_id = products.product_id
    left join plants
        on planned.plant_id = plants.plant_id
    cross join context

)

-- by name: the launches leave the series' columns null
select * from final  -- noqa: AM07
union all by name
select * from launched
