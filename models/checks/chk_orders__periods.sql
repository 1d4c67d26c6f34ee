{#- One row per period of var frequency from the first order to the last
    (up to the run date): its order lines, against the median period's. A
    period without a single line in the middle of an extract is a failed or
    partial export (suite orders__periods), unless demand dips around the
    same time a year before or after too (a plant's shutdown, a holiday), or
    the orders are dated less often than var frequency (the run gate's to
    name): lines_unexplained is then null. -#}

{%- set year = {'day': 364, 'week': 52, 'month': 12}[frequency()] %}

with

started as (

    select * from {{ ref('int_run__started') }}

),

dated as (

    select orders.order_date
    from {{ ref('int_orders__screened') }} as orders
    cross join started
    where
        not orders.is_duplicate
        and orders.order_date between started.min_order_date
        and started.run_date

),

lines as (

    select
        {{ period_start('order_date') }} as period_start,
        count(*) as n_lines
    from dated
    group by all

),

cadence as (

    -- orders dated less often than var frequency (monthly totals forecast
    -- weekly) leave most periods empty: the run gate names that instead
    select {{ coarser_than_frequency('dated') }} as is_coarser

),

periods as (

    select
        cast(
            unnest(generate_series(
                min(period_start), max(period_start), {{ period_interval() }}
            )) as date
        ) as period_start
    from lines

),

counted as (

    select
        periods.period_start,
        coalesce(lines.n_lines, 0) as n_lines,
        median(coalesce(lines.n_lines, 0)) over () as median_lines
    from periods
    left join lines on periods.period_start = lines.period_start

),

around_a_year as (

    -- the fewest lines of the three periods around the same time a year
    -- before and a year after, against the median
    select
        counted.period_start,
        min(other.n_lines / counted.median_lines) as year_share
    from counted
    inner join counted as other
        on
            abs(datediff(
                '{{ frequency() }}', counted.period_start, other.period_start
            ) - {{ year }}) <= 1
            or abs(datediff(
                '{{ frequency() }}', other.period_start, counted.period_start
            ) - {{ year }}) <= 1
    group by all

),

final as (

    select
        counted.period_start,
        counted.n_lines,
        counted.median_lines,
        around_a_year.year_share,
        case
            when
                coalesce(around_a_year.year_share, 1) >= 0.5
                and not cadence.is_coarser
                then counted.n_lines
        end as lines_unexplained
    from counted
    cross join cadence
    left join around_a_year
        on counted.period_start = around_a_year.period_start

)

select * from final
