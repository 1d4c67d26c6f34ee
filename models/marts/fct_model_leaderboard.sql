{#- Per candidate, overall (demand_class 'all') and per demand class: the
    series it wins (a per-series top-k champion such as MeanTopK[A|B|C] is a
    win of MeanTopK), and its backtest scores on the same series as every
    other ranked candidate: the candidates that scored on at least 90 % of
    the class's backtested series are ranked, on the series all of them
    scored. The score is the metric that selects the class's champions:
    intermittent_metric for intermittent and lumpy series, selection_metric
    for the other classes and for 'all'. With bias the score is |bias|. -#}

{%- set metric = var('selection_metric') | string | lower %}
{%- set sparse_metric = var('intermittent_metric') | string | lower %}
{%- set sparse_classes = "('intermittent', 'lumpy')" %}
{%- set score = 'abs(bias)' if metric == 'bias' else metric %}
{%- set sparse_score =
    'abs(bias)' if sparse_metric == 'bias' else sparse_metric %}

with

metrics as (

    select
        series_id,
        model_name,
        demand_class,
        is_champion,
        case
            when demand_class in {{ sparse_classes }}
                then {{ sparse_score }}
            else {{ score }}
        end as score,
        {{ score }} as overall_score,
        mase,
        rmsse,
        wape,
        smape,
        bias
    from {{ ref('fct_backtest_metrics') }}
    where status = 'ok'

),

scored as (

    select * from metrics
    union all
    select
        series_id,
        model_name,
        'all' as demand_class,
        is_champion,
        overall_score as score,
        overall_score,
        mase,
        rmsse,
        wape,
        smape,
        bias
    from metrics

),

class_series as (

    select
        demand_class,
        count(distinct series_id) as n_class_series
    from scored
    group by all

),

by_candidate as (

    select
        model_name,
        demand_class,
        count(*) as n_series,
        count(*) filter (where is_champion) as n_wins
    from scored
    group by all

),

ranked as (

    -- compared: the candidates that scored on at least 90 % of the class
    select
        by_candidate.model_name,
        by_candidate.demand_class
    from by_candidate
    inner join class_series
        on by_candidate.demand_class = class_series.demand_class
    where by_candidate.n_series >= 0.9 * class_series.n_class_series

),

n_ranked as (

    select
        demand_class,
        count(*) as n_ranked
    from ranked
    group by all

),

ranked_scores as (

    select scored.*
    from scored
    inner join ranked
        on
            scored.model_name = ranked.model_name
            and scored.demand_class = ranked.demand_class

),

compared_series as (

    -- the series of the class that every ranked candidate scored
    select
        ranked_scores.demand_class,
        ranked_scores.series_id
    from ranked_scores
    inner join n_ranked
        on ranked_scores.demand_class = n_ranked.demand_class
    group by all
    having count(*) = any_value(n_ranked.n_ranked)

),

on_compared as (

    select
        ranked_scores.model_name,
        ranked_scores.demand_class,
        count(*) as n_compared,
        avg(ranked_scores.score) as mean_score,
        median(ranked_scores.score) as median_score,
        avg(ranked_scores.mase) as mean_mase,
        avg(ranked_scores.rmsse) as mean_rmsse,
        avg(ranked_scores.wape) as mean_wape,
        avg(ranked_scores.smape) as mean_smape,
        avg(ranked_scores.bias) as mean_bias
    from ranked_scores
    inner join compared_series
        on
            ranked_scores.demand_class = compared_series.demand_class
            and ranked_scores.series_id = compared_series.series_id
    group by all

),

final as (

    select
        by_candidate.model_name,
        by_candidate.demand_class,
        by_candidate.n_series,
        by_candidate.n_wins,
        cast(by_candidate.n_wins as double) / by_candidate.n_series
            as win_share,
        case
            when by_candidate.demand_class in {{ sparse_classes }}
                then {{ sql_string(sparse_metric) }}
            else {{ sql_string(metric) }}
        end as selection_metric,
        on_compared.n_compared,
        on_compared.mean_score,
        on_compared.median_score,
        on_compared.mean_mase,
        on_compared.mean_rmsse,
        on_compared.mean_wape,
        on_compared.mean_smape,
        on_compared.mean_bias,
        rank() over (
            partition by by_candidate.demand_class
            order by
                by_candidate.n_wins desc,
                on_compared.mean_score asc nulls last
        ) as win_rank,
        case
            when on_compared.mean_score is not null
                then rank() over (
                    partition by by_candidate.demand_class
                    order by on_compared.mean_score asc nulls last
                )
        end as score_rank
    from by_candidate
    left join on_compared
        on
            by_candidate.model_name = on_compared.model_name
            and by_candidate.demand_class = on_compared.demand_class

)

select * from final
