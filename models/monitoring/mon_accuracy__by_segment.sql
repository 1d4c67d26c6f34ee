{#- Past forecasts' accuracy pooled over series, per frequency, horizon and
    season length, by demand class x model x horizon step, and every roll-up
    of those three ('all' for a class or model, step 0 for all steps):
    MAE, WAPE, bias, MASE, RMSSE, sMAPE, the scaled pinball loss, interval
    coverage (and the coverage floor of intervals that contain 0) and the
    value added over the seasonal naive forecast. -#}

with

periods as (

    select
        *,
        -- each run's forecast of a series: its share of actuals at 0 over all
        -- its periods (a step's cell holds one of them)
        avg(cast(demand = 0 as double))
            over (partition by run_id, series_id)
            as zero_share
    from {{ ref('mon_forecast_accuracy') }}

),

pooled as (

    select
        frequency,
        horizon,
        season_length,
        case
            when grouping(demand_class) = 1 then 'all'
            else coalesce(demand_class, 'launch')  -- a launch: no class yet
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
        sum(abs_error) / nullif(sum(abs(demand)), 0) as wape,
        sum(error) / nullif(sum(abs(demand)), 0) as bias,
        avg(abs_error / mase_scale) as mase,
        avg(
            case
                when abs(demand) + abs(forecast) = 0 then 0
                else 2 * abs_error / (abs(demand) + abs(forecast))
            end
        ) as smape,
        avg(pinball_loss / mase_scale) as spl,
        {%- for level in interval_levels() %}
            avg(cast("within_{{ level }}" as double)) as "coverage_{{ level }}",
            -- an interval that contains 0 holds every 0
            avg(
                case
                    when "within_{{ level }}" is not null
                        then greatest(zero_share, {{ level }} / 100)
                end
            ) as "coverage_floor_{{ level }}",
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

per_forecast as (

    -- RMSSE is not a mean over periods: each run's forecast of each series
    -- gets its own in every cell of the cube, then they are averaged
    select
        frequency,
        horizon,
        season_length,
        case
            when grouping(demand_class) = 1 then 'all'
            else coalesce(demand_class, 'launch')  -- a launch: no class yet
        end as demand_class,
        case
            when grouping(model_name) = 1 then 'all'
            else model_name
        end as model_name,
        case when grouping(step) = 1 then 0 else step end as step,
        sqrt(avg(error * error) / any_value(rmsse_scale)) as rmsse
    from periods
    group by  -- noqa: AM06
        frequency,
        horizon,
        season_length,
        run_id,
        series_id,
        cube(demand_class, model_name, step)

),

per_cell as (

    select
        frequency,
        horizon,
        season_length,
        demand_class,
        model_name,
        step,
        avg(rmsse) as rmsse
    from per_forecast
    group by all

),

final as (

    select
        -- keys
        pooled.frequency,
        pooled.horizon,
        pooled.season_length,
        pooled.demand_class,
        pooled.model_name,
        pooled.step,

        -- what was scored
        pooled.n_runs,
        pooled.n_series,
        pooled.n_periods,
        pooled.first_origin,
        pooled.last_origin,

        -- accuracy
        pooled.mae,
        pooled.wape,
        pooled.bias,
        pooled.mase,
        per_cell.rmsse,
        pooled.smape,
        pooled.spl,
        {%- for level in interval_levels() %}
            pooled."coverage_{{ level }}",
            pooled."coverage_floor_{{ level }}",
        {%- endfor %}

        -- forecast value added over the seasonal naive
        pooled.seasonal_naive_mase,
        pooled.seasonal_naive_mase - pooled.mase as fva_mase,
        pooled.fva_share
    from pooled
    left join per_cell
        on
            pooled.frequency is not distinct from per_cell.frequency
            and pooled.horizon is not distinct from per_cell.horizon
            and pooled.season_length is not distinct from per_cell.season_length
            and pooled.demand_class = per_cell.demand_class
            and pooled.model_name is not distinct from per_cell.model_name
            and pooled.step is not distinct from per_cell.step

)

select * from final
