{#- One row per series the backtest must score (backtestable, not
    discontinued): the candidates that ran elsewhere and have no metrics row
    for it (suite backtest__series: none, or selection is not a fair
    comparison). -#}

with

backtest as (

    select * from {{ ref('int_forecast__backtest') }}

),

profiled as (

    select * from {{ ref('int_series__profiled') }}

),

expected as (

    select series_id
    from profiled
    where is_backtestable and lifecycle <> 'discontinued'

),

candidates as (

    select distinct model_name from backtest

),

missing as (

    select
        expected.series_id,
        candidates.model_name
    from expected
    cross join candidates
    anti join backtest
        on
            expected.series_id = backtest.series_id
            and candidates.model_name = backtest.model_name

),

final as (

    select
        expected.series_id,
        count(missing.model_name) as n_missing_candidates,
        string_agg(missing.model_name, ', ' order by missing.model_name)
            as missing_candidates
    from expected
    left join missing on expected.series_id = missing.series_id
    group by all

)

select * from final
