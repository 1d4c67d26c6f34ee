{#- The forecast planners read, one row per series and future period of the
    latest good run (columns: _forecast__models.yml): names and segments; the
    final forecast (an override, else the statistical one: the base level of
    int_forecast__levels) and intervals; the model, its backtest MASE, a plant
    closure's factor; the run before and its forecast. Planned launches without
    orders yet follow. Built only when the forecast gate has passed. -#}
-- depends_on: {{ ref('gate_forecast') }}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

coherent as (

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

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

overrides as (

    select * from {{ ref('int_forecast__quantity_overrides') }}

),

previous as (

    select * from {{ ref('int_forecast__previous') }}

),

closures as (

    select * from {{ ref('int_forecast__closures') }}

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
            overrides.override_quantity, coherent.forecast
        ) as forecast,
        coherent.forecast as statistical_forecast,
        overrides.override_quantity,
        overrides.override_reason,
        overrides.override_set_by,
        {{ contract_interval_columns('coherent') }}

        -- provenance
        predictions.model_name,
        split_part(predictions.model_name, '[', 1) as model_family,
        demandcast_model_description(
            predictions.model_name
        ) as model_description,
        predictions.method,
        predictions.fallback_reason,
        {{ closure_factor('predictions.fallback_reason') }},
        case
            when predictions.method = 'champion' then champions.champion_mase
        end as backtest_mase,

        -- since the last run
        previous_run.previous_run_id,
        previous.previous_forecast,
        coalesce(overrides.override_quantity, coherent.forecast)
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
    inner join coherent
        on
            predictions.series_id = coherent.level_key
            and predictions.step = coherent.step
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
    left join closures
        on
            series.plant_id = closures.plant_id
            and predictions.period_start = closures.period_start

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
        products.product_group,
        'launch' as lifecycle,
        launches.forecast,
        launches.forecast as statistical_forecast,
        {{ contract_interval_columns('launches') }}
        launches.model_name,
        launches.model_name as model_family,
        demandcast_model_description(
            launches.model_name
        ) as model_description,
        launches.method,
        launches.fallback_reason,
        {{ closure_factor('launches.fallback_reason') }},
        context.run_id,
        context.forecast_origin,
        context.run_id as forecast_run_id,
        context.started_at as forecast_created_at,
        previous_run.previous_run_id
    from {{ ref('int_forecast__launches') }} as launches
    inner join {{ ref('stg_erp__launches') }} as planned
        on launches.series_id = planned.series_id
    left join {{ ref('stg_erp__products') }} as products
        on planned.product_id = products.product_id
    left join {{ ref('stg_erp__plants') }} as plants
        on planned.plant_id = plants.plant_id
    left join closures
        on
            planned.plant_id = closures.plant_id
            and launches.period_start = closures.period_start
    cross join context
    cross join previous_run

)

-- by name: the launches leave the series' columns null
select * from final  -- noqa: AM07
union all by name
select * from launched
