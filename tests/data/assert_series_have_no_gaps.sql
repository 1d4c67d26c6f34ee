-- Every series has one row per period between its first period and the
-- forecast origin: no period is missing and none is doubled.
with

filled as (

    select * from {{ ref('int_series__filled') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

spans as (

    select
        filled.series_id,
        count(*) as n_rows,
        count(distinct filled.period_start) as n_distinct,
        min(filled.period_start) as first_period,
        max(filled.period_start) as last_period,
        date_diff(
            '{{ frequency() }}',
            min(filled.period_start),
            max(filled.period_start)
        ) + 1 as n_expected,
        max(filled.period_index) + 1 as n_indexed,
        any_value(context.forecast_origin) as forecast_origin
    from filled
    cross join context
    group by 1

)

select *
from spans
where
    n_rows != n_expected
    or n_distinct != n_rows
    or n_indexed != n_rows
    or last_period != forecast_origin
