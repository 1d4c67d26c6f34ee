-- Series whose runner-up scored at least 20 % better in the backtest than the champion kept.
select
    r.plant_id, r.product_id, s.product_name,
    s.link,
    r.champion, r.champion_score, r.runner_up, r.runner_up_score,
    1 - r.runner_up_score / nullif(r.champion_score, 0) as runner_up_better, r.reason, r.demand_class
from demandcast.registry as r
join demandcast.series as s on s.series_id = r.series_id
where r.runner_up_score < 0.8 * r.champion_score
order by runner_up_better desc
