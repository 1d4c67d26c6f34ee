{#- Per candidate, overall and per demand class: how many series it wins
    and how well it scores in the backtest. -#}

with

metrics as (

    select * from {{ ref('fct_backtest_metrics') }}
    where status = 'ok'

),

by_class as (

    select
        model_name,
        demand_class,
        count(*) as n_series,
        count(*) filter (where is_champion) as n_wins,
        avg({{ var('selection_metric') }}) as mean_score,
        median({{ var('selection_metric') }}) as median_score,
        avg(mase) as mean_mase,
        avg(rmsse) as mean_rmsse,
        avg(wape) as mean_wape,
        avg(smape) as mean_smape,
        avg(bias) as mean_bias
    from metrics
    group by grouping sets ((model_name, demand_class), (model_name))

),

final as (

    select
        model_name,
        coalesce(demand_class, 'all') as demand_class,
        n_series,
        n_wins,
        cast(n_wins as double) / n_series as win_share,
        '{{ var("selection_metric") }}' as selection_metric,
        mean_score,
        median_score,
        mean_mase,
        mean_rmsse,
        mean_wape,
        mean_smape,
        mean_bias,
        rank() over (
            partition by coalesce(demand_class, 'all')
            order by n_wins desc, mean_score asc
        ) as win_rank,
        rank() over (
            partition by coalesce(demand_class, 'all')
            order by mean_score asc
        ) as score_rank
    from by_class

)

select * from final
