{#- Per candidate, overall and per demand class: how many series it wins
    and how well it scores in the backtest. -#}

with

metrics as (

    select * from {{ ref('fct_backtest_metrics') }}
    where status = 'ok'

),

scored as (

    select
        model_name,
        demand_class,
        is_champion,
        {{ var('selection_metric') }} as score,
        mase,
        rmsse,
        wape,
        smape,
        bias
    from metrics
    union all
    select
        model_name,
        'all' as demand_class,
        is_champion,
        {{ var('selection_metric') }} as score,
        mase,
        rmsse,
        wape,
        smape,
        bias
    from metrics

),

by_class as (

    select
        model_name,
        demand_class,
        count(*) as n_series,
        count(*) filter (where is_champion) as n_wins,
        avg(score) as mean_score,
        median(score) as median_score,
        avg(mase) as mean_mase,
        avg(rmsse) as mean_rmsse,
        avg(wape) as mean_wape,
        avg(smape) as mean_smape,
        avg(bias) as mean_bias
    from scored
    group by 1, 2

),

final as (

    select
        model_name,
        demand_class,
        n_series,
        n_wins,
        cast(n_wins as double) / n_series as win_share,
        {{ sql_string(var('selection_metric')) }} as selection_metric,
        mean_score,
        median_score,
        mean_mase,
        mean_rmsse,
        mean_wape,
        mean_smape,
        mean_bias,
        rank() over (
            partition by demand_class
            order by n_wins desc, mean_score asc
        ) as win_rank,
        rank() over (
            partition by demand_class
            order by mean_score asc
        ) as score_rank
    from by_class

)

select * from final
