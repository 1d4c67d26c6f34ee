{#- One row per period of var frequency from the first order to the last
    (up to the run date): its order lines, against the median period's. A
    period without a single line in the middle of an extract is a failed or
    partial export (suite orders__periods), unless demand dips around the
    same time a year before or after too (a plant's shutdown, a holiday):
    lines_unexplained is then null. -#}

{%- set year = {'day': 364, 'week': 52, 'month': 12}[frequency()] %}

with

started as (

    select * from {{ ref('int_run__started') }}

),

lines as (

    select
        {{ period_start('orders.order_date') }} as period_start,
        count(*) as n_lines
    from {{ ref('int_orders__screened') }} as orders
    cross join started
    where
        not orders.is_duplicate
        and orders.order_date between started.min_order_date
        and started.run_date
    group by all

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
            when coalesce(around_a_year.year_share, 1) >= 0.5
                then counted.n_lines
        end as lines_unexplained
    from counted
    left join around_a_year
        on counted.period_start = around_a_year.period_start

)

select * from final
