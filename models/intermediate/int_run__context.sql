{#- One row that every later stage reads: the run id, the frequency, the
    forecast origin (start of the last period in the history; by default the
    last complete period in the data: macro origin_period), how often the
    orders are dated, and the forecasting settings. -#}
-- depends_on: {{ ref('gate_orders') }}

with

started as (

    select * from {{ ref('int_run__started') }}

),

orders as (

    -- a line dated after the run (the orders gate flags it) must not move
    -- the origin into the future
    select orders.order_date
    from {{ ref('int_orders__screened') }} as orders
    cross join started
    where
        not orders.is_duplicate
        and orders.order_date <= started.run_date

),

bounds as (

    select
        min(order_date) as data_start_date,
        max(order_date) as data_end_date,
        count(distinct order_date) as n_order_dates,
        -- how often the orders are dated: monthly data (on the first or the
        -- last day of each month) or weekly data (one weekday) at a finer
        -- var frequency would be forecast as mostly empty periods (the run
        -- gate stops it); at this frequency, its last period is complete
        {{ date_cadence('orders') }} as data_cadence,
        -- the week's last working day: a plant shut at weekends ends its
        -- week on Friday, and an extract to Sunday holds no later order
        {{ last_workday('orders') }} as last_workday
    from orders

),

origin as (

    select
        data_start_date,
        data_end_date,
        n_order_dates,
        data_cadence,
        {{ origin_period('data_end_date', 'data_cadence', 'last_workday') }}
            as forecast_origin
    from bounds

),

final as (

    select
        started.run_id,
        '{{ frequency() }}' as frequency,
        origin.forecast_origin,
        cast(
            origin.forecast_origin + {{ period_interval() }} as date
        ) as forecast_start,
        cast({{ var('horizon') }} as integer) as horizon,
        cast({{ season_length() }} as integer) as season_length,
        -- the forecasting knobs, recorded with the run and read by the
        -- Python models (validated there, with the var named); a null var's
        -- default comes from the engine's settings (macro setting)
        cast({{ var('n_windows') }} as integer) as n_windows,
        cast({{ setting('step_size') }} as integer) as step_size,
        {{ sql_string(var('selection_metric')) }} as selection_metric,
        {{ sql_string(var('intermittent_metric')) }} as intermittent_metric,
        {{ sql_string(var('reconciliation')) }} as reconciliation,
        {{ sql_string(tojson(var('candidates'))) }} as candidates,
        {{ sql_string(tojson(var('levels'))) }} as levels,
        cast({{ setting('n_jobs') }} as integer) as n_jobs,
        {{ sql_string(var('engine')) }} as engine,
        {% if var('engine_address') -%}
            {{ sql_string(var('engine_address')) }}
        {%- else -%}
            cast(null as varchar)
        {%- endif %} as engine_address,
        cast({{ setting('batch_series') }} as integer) as batch_series,
        cast({{ setting('min_train_length') }} as integer) as min_train_length,
        cast({{ var('selection_margin') }} as double) as selection_margin,
        cast({{ var('single_margin') }} as double) as single_margin,
        cast({{ var('race_share') }} as double) as race_share,
        cast({{ var('backtest_refit') }} as boolean) as backtest_refit,
        cast({{ var('ensemble_top_k') }} as integer) as ensemble_top_k,
        cast({{ var('route_by_class') }} as boolean) as route_by_class,
        cast(
            {{ var('intervals_from_zero') }} as boolean
        ) as intervals_from_zero,
        -- the bound a forecast is held to: the forecast step's, as the gate's
        started.max_forecast_multiple,
        -- when a series is selected again (retrain.py)
        {{ sql_string(var('retrain')) }} as retrain,
        cast(
            {{ 'null' if var('retrain_max_age') is none
                else var('retrain_max_age') }} as integer
        ) as retrain_max_age,
        cast({{ var('retrain_decay_ratio') }} as double) as retrain_decay_ratio,
        cast(
            {{ var('retrain_min_new_periods') }} as integer
        ) as retrain_min_new_periods,
        cast(
            {{ var('retrain_shift_window') }} as integer
        ) as retrain_shift_window,
        cast({{ var('retrain_shift_z') }} as double) as retrain_shift_z,
        cast(
            {{ var('retrain_variance_ratio') }} as double
        ) as retrain_variance_ratio,
        cast(
            {{ 'null' if var('memory_keep_runs') is none
                else var('memory_keep_runs') }} as integer
        ) as memory_keep_runs,
        origin.data_start_date,
        origin.data_end_date,
        origin.n_order_dates,
        origin.data_cadence,
        -- what the run gate holds the origin to
        {{ period_start('origin.data_start_date') }} as data_start_period,
        {{ period_start('origin.data_end_date') }} as data_end_period,
        {{ period_start('started.run_date') }} as run_period,
        -- periods from the origin to the run date's period: an old extract
        -- or an origin set long ago both forecast periods already past
        cast(datediff(
            '{{ frequency() }}',
            origin.forecast_origin,
            {{ period_start('started.run_date') }}
        ) as integer) as stale_periods,
        started.started_at
    from origin
    cross join started

)

select * from final
