{#- Each past run's forecast of each series, judged on the periods that have
    actuals: MAE, WAPE, bias, MASE, RMSSE, sMAPE, the scaled pinball loss,
    interval coverage, and the value it added over the seasonal naive
    forecast from the same origin. -#}

with

accuracy as (

    select * from {{ ref('mon_forecast_accuracy') }}

),

summed as (

    select
        run_id,
        series_id,
        plant_id,
        product_id,
        product_group,
        frequency,
        horizon,
        season_length,
        forecast_origin,
        model_name,
        method,
        demand_class,
        mase_scale,
        rmsse_scale,
        count(*) as n_periods,
        min(step) as first_step,
        max(step) as last_step,
        sum(demand) as demand_total,
        sum(forecast) as forecast_total,
        avg(abs_error) as mae,
        avg(error) as mean_error,
        sum(abs_error) / nullif(sum(abs(demand)), 0) as wape,
        sum(error) / nullif(sum(abs(demand)), 0) as bias,
        avg(error * error) as mean_squared_error,
        avg(
            case
                when abs(demand) + abs(forecast) = 0 then 0
                else 2 * abs_error / (abs(demand) + abs(forecast))
            end
        ) as smape,
        avg(pinball_loss) as mean_pinball_loss,
        {%- for level in interval_levels() %}
            avg(cast("within_{{ level }}" as double)) as "coverage_{{ level }}",
        {%- endfor %}
        avg(seasonal_naive_abs_error) as seasonal_naive_mae,
        sum(seasonal_naive_abs_error) as seasonal_naive_abs_error_total,
        sum(abs_error) as abs_error_total
    from accuracy
    group by all

),

final as (

    select
        -- keys
        run_id,
        series_id,

        -- the run and the series
        plant_id,
        product_id,
        product_group,
        frequency,
        horizon,
        season_length,
        forecast_origin,
        model_name,
        method,
        demand_class,

        -- what was scored
        n_periods,
        -- the horizon's last period has arrived (a launch's periods before
        -- its first order have no actual: they are not scored)
        last_step = horizon as is_complete,
        first_step,
        last_step,
        demand_total,
        forecast_total,

        -- accuracy
        mae,
        mean_error,
        wape,
        bias,
        mae / mase_scale as mase,
        sqrt(mean_squared_error / rmsse_scale) as rmsse,
        smape,
        mean_pinball_loss / mase_scale as spl,
        {%- for level in interval_levels() %}
            "coverage_{{ level }}",
        {%- endfor %}

        -- forecast value added over the seasonal naive
        seasonal_naive_mae,
        seasonal_naive_mae / mase_scale as seasonal_naive_mase,
        (seasonal_naive_mae - mae) / mase_scale as fva_mase,
        1 - abs_error_total
        / nullif(seasonal_naive_abs_error_total, 0) as fva_share,
        mase_scale,
        rmsse_scale
    from summed

)

select * from final
