-- Series whose runner-up the backtest scored far better than the champion kept: the rows
-- fct_forecast_exceptions lists as runner_up (var runner_up_flag_ratio), as the report flags.
select
    r.plant_id, r.product_id, s.product_name,
    s.link,
    r.champion, r.champion_score, r.runner_up, r.runner_up_score,
    1 - r.runner_up_score / nullif(r.champion_score, 0) as runner_up_better, r.reason, r.demand_class
from demandcast.registry as r
join demandcast.series as s on s.series_id = r.series_id
join demandcast.exceptions as e
    on e.series_id = r.series_id and e.exception_type = 'runner_up'
order by runner_up_better desc
