{#- Accuracy of past forecasts against the actuals that have arrived since:
    one row per run, series and period that now has an actual, with the
    seasonal naive forecast from the same origin and the series' MASE scale
    at that origin (the aggregates mon_accuracy__by_series and
    mon_accuracy__by_segment are sums of these rows).

    Frequency-correct: the actuals are this build's periods (their frequency
    is a column of fct_demand_history) and only forecasts of that frequency
    are joined, so a monthly forecast is never scored against the week that
    starts on the first of the month. Forecasts of another frequency wait for
    a build of theirs (the data test assert_forecast_history_frequencies
    warns that they exist).

    Each forecast is scored once, under the run that made it: a run that
    reused a series' last forecast appended the same rows again under its own
    run_id (forecast_run_id names the run that made them); those copies are
    left out. -#}

with

history as (

    select * from {{ ref('fct_forecast_history') }}
    where forecast_run_id = run_id

),

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

numbered as (

    -- a series' periods numbered from its first: the history has no gaps,
    -- so the period k numbers back is the period k periods back
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

built as (

    select distinct frequency from actuals

),

seasons as (

    select distinct history.season_length
    from history
    inner join built
        on history.frequency = built.frequency
    where history.season_length is not null

),

running as (

    -- running sums of the in-sample errors of the mean level, naive-1 and
    -- seasonal naive, so a series' MASE scale at any origin is one lookup
    select
        numbered.series_id,
        numbered.period_start,
        numbered.period_number,
        seasons.season_length,
        sum(abs(numbered.demand)) over by_number as sum_abs_demand,
        sum(abs(numbered.demand - previous.demand))
            over by_number as sum_abs_diff_1,
        sum(abs(numbered.demand - season_ago.demand))
            over by_number as sum_abs_diff_season
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

    -- as src/demandcast/metrics.py: the in-sample mean |y_t - y_(t-m)| of
    -- the history up to the origin; naive-1 when that history is not longer
    -- than a season; a zero scale falls back to naive-1, the mean |y|, 1
    select
        series_id,
        period_start as forecast_origin,
        season_length,
        period_number as origin_period_number,
        case
            when
                season_length > 1
                and period_number > season_length
                and sum_abs_diff_season > 0
                then sum_abs_diff_season / (period_number - season_length)
            when period_number > 1 and sum_abs_diff_1 > 0
                then sum_abs_diff_1 / (period_number - 1)
            when sum_abs_demand > 0 then sum_abs_demand / period_number
            else 1.0
        end as mase_scale
    from running

),

scored as (

    select
        history.*,
        arrived.demand as actual,
        scales.mase_scale,
        -- seasonal naive from the same origin: the value one season (or
        -- more, past a season's steps) before the period; the origin's own
        -- value (naive-1) when the history is shorter than a season
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
        scored.frequency,
        scored.horizon,
        scored.season_length,
        scored.forecast_origin,
        scored.model_name,
        scored.method,
        scored.demand_class,

        -- forecast against actual
        scored.forecast,
        scored.actual,
        scored.forecast - scored.actual as error,
        abs(scored.forecast - scored.actual) as abs_error,
        {%- for level in var('levels') %}
            scored.actual between scored.lo_{{ level }}
            and scored.hi_{{ level }} as within_{{ level }},
        {%- endfor %}

        -- the benchmark and the scale
        naive.demand as seasonal_naive,
        abs(naive.demand - scored.actual) as seasonal_naive_abs_error,
        scored.mase_scale
    from scored
    left join numbered as naive
        on
            scored.series_id = naive.series_id
            and scored.naive_period_number = naive.period_number

)

select * from final
