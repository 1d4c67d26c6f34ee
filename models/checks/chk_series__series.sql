{#- One row per series: its periods counted and placed against period_index
    and the calendar of var frequency (suite series__series: no gap, none
    hidden by renumbering, every series filled to the forecast origin). -#}

with

filled as (

    select * from {{ ref('int_series__filled') }}

),

placed as (

    select
        series_id,
        period_index,
        period_start,
        min(period_start) over (partition by series_id) as first_period
    from filled

),

final as (

    select
        series_id,
        count(*) as n_periods,
        min(period_index) as first_index,
        max(period_index) + 1 - count(distinct period_index) as missing_periods,
        count(*) filter (
            where period_start <> cast(
                first_period + {{ period_interval('period_index') }} as date
            )
        ) as misplaced_periods,
        min(period_start) as first_period,
        max(period_start) as last_period
    from placed
    group by all

)

select * from final
