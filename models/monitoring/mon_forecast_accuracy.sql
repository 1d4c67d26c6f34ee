{#- Accuracy of past forecasts against the actuals that have arrived since:
    one row per run, series and period that now has an actual. -#}

with

history as (

    select * from {{ ref('fct_forecast_history') }}

),

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

final as (

    select
        -- keys
        history.run_id,
        history.series_id,
        history.period_start,
        history.step,

        -- forecast against actual
        history.model_name,
        history.method,
        history.forecast,
        actuals.demand as actual,
        history.forecast - actuals.demand as error,
        abs(history.forecast - actuals.demand) as abs_error,
        {%- for level in var('levels') %}
            actuals.demand between history.lo_{{ level }}
            and history.hi_{{ level }} as within_{{ level }},
        {%- endfor %}

        -- context
        history.demand_class,
        history.forecast_origin
    from history
    inner join actuals
        on
            history.series_id = actuals.series_id
            and history.period_start = actuals.period_start

)

select * from final
