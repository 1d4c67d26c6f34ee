{#- The model's past forecasts against the actuals since (the yml says all). -#}

with

history as (

    select * replace (coalesce(statistical_forecast, forecast) as forecast)
    from {{ ref('fct_forecast_history') }}
    where forecast_run_id = run_id

),

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

numbered as (

    -- periods numbered from the first: no gaps, so k back is k periods back
    select
        series_id,
        period_start,
        frequency,
        demand,
        row_number() over (
            partition by series_id order by period_start
        ) as period_number
    from actuals

),

seasons as (

    select distinct season_length
    from history
    where
        frequency in (select actuals.frequency from actuals)
        and season_length is not null

),

running as (

    -- running sums of the in-sample absolute and squared errors of the mean
    -- level, naive-1 and seasonal naive: the scales at any origin are a lookup
    select
        {%- for kind, error in [('abs', 'abs(%s)'), ('sq', '(%s) ** 2')] %}
            sum({{ error | format('numbered.demand') }})
                over by_number as sum_{{ kind }}_demand,
            sum({{ error | format('numbered.demand - previous.demand') }})
                over by_number as sum_{{ kind }}_diff_1,
            sum({{ error | format('numbered.demand - season_ago.demand') }})
                over by_number as sum_{{ kind }}_diff_season,
        {%- endfor %}
        numbered.series_id,
        numbered.period_start,
        numbered.period_number,
        seasons.season_length
    from numbered
    cross join seasons
    left join numbered as previous
        on
            numbered.series_id = previous.series_id
            and numbered.period_number - 1 = previous.period_number
    left join numbered as season_ago
        on
            numbered.series_id = season_ago.series_id
            and numbered.period_number - seasons.season_length
            = season_ago.period_number
    window by_number as (
        partition by numbered.series_id, seasons.season_length
        order by numbered.period_number
    )

),

scales as (

    -- as metrics.seasonal_scales: mean |y_t - y_(t-m)| to the origin (naive-1
    -- if not longer; if 0 naive-1, mean |y|, 1); RMSSE: mean square, same lag
    select
        {%- for kind, scale in [('abs', 'mase'), ('sq', 'rmsse')] %}
            case
                when
                    season_length > 1
                    and period_number > season_length
                    and sum_abs_diff_season > 0
                    then
                        sum_{{ kind }}_diff_season
                        / (period_number - season_length)
                when period_number > 1 and sum_abs_diff_1 > 0
                    then sum_{{ kind }}_diff_1 / (period_number - 1)
                when sum_abs_demand > 0
                    then sum_{{ kind }}_demand / period_number
                else 1.0
            end as {{ scale }}_scale,
        {%- endfor %}
        series_id,
        period_start as forecast_origin,
        season_length,
        period_number as origin_period_number
    from running

),

scored as (

    select
        history.*,
        arrived.demand,
        scales.mase_scale,
        scales.rmsse_scale,
        -- seasonal naive from the same origin: the value a season (or more)
        -- before the period; naive-1 when the history is shorter than a season
        case
            when scales.origin_period_number >= history.season_length
                then
                    scales.origin_period_number - (
                        history.season_length - 1
                        - (history.step - 1) % history.season_length
                    )
            else scales.origin_period_number
        end as naive_period_number
    from history
    inner join actuals as arrived
        on
            history.series_id = arrived.series_id
            and history.period_start = arrived.period_start
            and history.frequency = arrived.frequency
    left join scales
        on
            history.series_id = scales.series_id
            and history.forecast_origin = scales.forecast_origin
            and history.season_length = scales.season_length

),

final as (

    select
        -- keys
        scored.run_id,
        scored.series_id,
        scored.period_start,
        scored.step,

        -- the run and the series
        scored.plant_id,
        scored.product_id,
        scored.product_group,
        scored.frequency,
        scored.horizon,
        scored.season_length,
        scored.forecast_origin,
        scored.model_name,
        scored.method,
        coalesce(  -- a launch before its first orders: no class yet
            scored.demand_class, if(scored.method = 'launch', 'launch', null)
        ) as demand_class,

        -- forecast against demand
        scored.forecast,
        scored.demand,
        scored.forecast - scored.demand as error,
        abs(scored.forecast - scored.demand) as abs_error,
        {%- for level in interval_levels() %}
            scored.demand between scored."lo_{{ level }}"
            and scored."hi_{{ level }}" as "within_{{ level }}",
        {%- endfor %}
        -- pinball loss: the median (forecast), (1 -+ L)/2 at lo_L and hi_L
        (
            0.5 * abs(scored.forecast - scored.demand)
            {%- for level in interval_levels() %}
                {%- for q, s in [((100 - level | float) / 200, 'lo'),
                    ((100 + level | float) / 200, 'hi')] %}
                    {%- set p = 'scored."' ~ s ~ '_' ~ level ~ '"' %}
                    + greatest(
                        {{ q }} * (scored.demand - {{ p }}),
                        ({{ q }} - 1) * (scored.demand - {{ p }})
                    )
                {%- endfor %}
            {%- endfor %}
        ) / {{ 1 + 2 * interval_levels() | length }} as pinball_loss,

        -- the benchmark and the scales
        naive.demand as seasonal_naive,
        abs(naive.demand - scored.demand) as seasonal_naive_abs_error,
        scored.mase_scale,
        scored.rmsse_scale
    from scored
    left join numbered as naive
        on
            scored.series_id = naive.series_id
            and scored.naive_period_number = naive.period_number

)

select * from final
