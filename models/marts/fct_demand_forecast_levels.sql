{#- The forecast at every level a planner asks for (int_forecast__levels):
    the total, each plant, product group, product across plants, plant x
    product group, and the base plant x product, one coherent set: every level
    sums to the total in every period, and the base level is
    fct_demand_forecast. Built only when the forecast gate has passed. -#}
with

levels as (

    select * from {{ ref('int_forecast__levels') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        -- keys
        levels.level,
        levels.level_key,
        levels.plant_id,
        levels.product_group,
        levels.product_id,
        levels.period_start,
        levels.step,

        -- forecast
        levels.forecast,
        {{ interval_columns('levels') }}

        -- evidence
        levels.n_series,
        levels.bottom_up_forecast,
        levels.own_forecast,
        levels.reconciliation,
        levels.backtest_mase,
        levels.bottom_up_mase,
        levels.own_mase,

        -- provenance
        context.run_id,
        context.forecast_origin
    from levels
    cross join context

)

select * from final
