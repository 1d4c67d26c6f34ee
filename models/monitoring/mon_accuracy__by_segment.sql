{#- Past forecasts' accuracy pooled over series, per frequency, horizon and
    season length, by demand class x model x horizon step, and every roll-up
    of those three ('all' for a class or model, step 0 for all steps):
    MAE, WAPE, bias, MASE, interval coverage and the value added over the
    seasonal naive forecast. -#}

with

periods as (

    select * from {{ ref('mon_forecast_accuracy') }}

),

pooled as (

    select
        frequency,
        horizon,
        season_length,
        case
            when grouping(demand_class) = 1 then 'all'
            else coalesce(demand_class, 'unknown')
        end as demand_class,
        case
            when grouping(model_name) = 1 then 'all'
            else model_name
        end as model_name,
        case when grouping(step) = 1 then 0 else step end as step,
        count(distinct run_id) as n_runs,
        count(distinct series_id) as n_series,
        count(*) as n_periods,
        min(forecast_origin) as first_origin,
        max(forecast_origin) as last_origin,
        avg(abs_error) as mae,
        sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
        sum(error) / nullif(sum(abs(actual)), 0) as bias,
        avg(abs_error / mase_scale) as mase,
        {%- for level in var('levels') %}
            avg(cast(within_{{ level }} as double)) as coverage_{{ level }},
        {%- endfor %}
        avg(seasonal_naive_abs_error / mase_scale) as seasonal_naive_mase,
        1 - sum(abs_error)
        / nullif(sum(seasonal_naive_abs_error), 0) as fva_share
    from periods
    -- every roll-up of class, model and step: CUBE takes the columns by name
    group by  -- noqa: AM06
        frequency,
        horizon,
        season_length,
        cube(demand_class, model_name, step)

),

final as (

    select
        -- keys
        frequency,
        horizon,
        season_length,
        demand_class,
        model_name,
        step,

        -- what was scored
        n_runs,
        n_series,
        n_periods,
        first_origin,
        last_origin,

        -- accuracy
        mae,
        wape,
        bias,
        mase,
        {%- for level in var('levels') %}
            coverage_{{ level }},
        {%- endfor %}

        -- forecast value added over the seasonal naive
        seasonal_naive_mase,
        seasonal_naive_mase - mase as fva_mase,
        fva_share
    from pooled

)

select * from final
