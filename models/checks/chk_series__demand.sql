{#- One row per series and period whose net demand is below zero (suite
    series__demand; var allow_negative_demand accepts them), with the
    period's largest return and where that line is in the raw files, so a
    planner can find the booking (null when no line of the period is a
    return). Empty when no period is negative. -#}

with

negative as (

    select
        series_id,
        period_start,
        demand
    from {{ ref('int_series__filled') }}
    where demand < 0

),

returns as (
    -- the usable lines that are returns (int_orders__usable)

    select
        series_id,
        period_start,
        quantity,
        source_file,
        source_row
    from {{ ref('int_orders__usable') }}
    where quantity < 0

),

final as (

    select
        negative.series_id,
        negative.period_start,
        negative.demand,
        min(returns.quantity) as largest_return,
        arg_min(returns.source_file, returns.quantity) as return_source_file,
        arg_min(returns.source_row, returns.quantity) as return_source_row
    from negative
    left join returns
        on
            negative.series_id = returns.series_id
            and negative.period_start = returns.period_start
    group by all

)

select * from final
