{#- One row per plant: its last period with an order line against the
    extract's (the latest over every plant). A plant that shipped in nine
    periods of ten over the year before falls silent for two periods or more
    while the others ship: its part of the export failed (suite
    orders__plants), unless it was silent the same periods a year before (a
    plant's own shutdown), the silence is longer than var horizon (a plant
    that closed, not an export that stopped short unnoticed), or the orders
    are dated less often than var frequency (the run gate's to name):
    silent_unexplained is then null. -#}

{%- set year = {'day': 364, 'week': 52, 'month': 12}[frequency()] %}

with

started as (

    select * from {{ ref('int_run__started') }}

),

dated as (

    select
        orders.plant_id,
        orders.order_date
    from {{ ref('int_orders__screened') }} as orders
    cross join started
    where
        not orders.is_duplicate
        and orders.plant_id is not null
        and orders.order_date between started.min_order_date
        and started.run_date

),

plant_periods as (

    select distinct
        plant_id,
        {{ period_start('order_date') }} as period_start
    from dated

),

coarser as (

    -- orders dated less often than var frequency leave most periods empty
    select {{ coarser_than_frequency('dated') }} as is_coarser

),

plants as (

    select
        plant_id,
        max(period_start) as last_period,
        max(max(period_start)) over () as extract_last_period
    from plant_periods
    group by all

),

measured as (

    select
        plants.plant_id,
        plants.last_period,
        plants.extract_last_period,
        datediff(
            '{{ frequency() }}', plants.last_period, plants.extract_last_period
        ) as silent_periods,
        -- its periods with a line over the year up to its last one
        count(*) filter (
            where history.period_start > plants.last_period
            - {{ period_interval(year) }}
        ) as periods_in_year,
        -- and over the same periods a year before its silence
        count(*) filter (
            where history.period_start > plants.last_period
            - {{ period_interval(year) }}
            and history.period_start <= plants.extract_last_period
            - {{ period_interval(year) }}
        ) as periods_year_before
    from plants
    inner join plant_periods as history
        on
            plants.plant_id = history.plant_id
            and plants.last_period >= history.period_start
    group by all

),

final as (

    select
        measured.*,
        case
            when
                measured.periods_in_year >= 0.9 * {{ year }}
                and measured.periods_year_before >= 1
                and measured.silent_periods <= {{ var('horizon') }}
                and not coarser.is_coarser
                then measured.silent_periods
        end as silent_unexplained
    from measured
    cross join coarser

)

select * from final
