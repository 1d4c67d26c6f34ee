{#- Every series with a backtested champion has exactly one row of
    fct_backtest_metrics marked is_champion, with status ok: the leaderboard
    credits every win, a per-series top-k champion (MeanTopK[A|B|C]) to its
    candidate (MeanTopK). -#}

with

champions as (

    select
        series_id,
        champion
    from {{ ref('int_forecast__champions') }}
    where n_windows > 0

),

marked as (

    select
        series_id,
        count(*) filter (where is_champion and status = 'ok') as n_marked
    from {{ ref('fct_backtest_metrics') }}
    group by all

)

select
    champions.series_id,
    champions.champion,
    coalesce(marked.n_marked, 0) as n_marked
from champions
left join marked
    on champions.series_id = marked.series_id
where coalesce(marked.n_marked, 0) != 1
