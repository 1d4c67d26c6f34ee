-- Each series' forecast against the previous published run's for the same periods.
with runs as (
    select run_id, max(forecast_origin) as origin
    from demandcast.forecast_history group by run_id
),
previous as (
    select run_id from runs
    where run_id <> (select run_id from demandcast.publication)
    order by origin desc limit 1
)
select
    cur.plant_id, cur.product_id, any_value(cur.product_name) as product_name,
    s.link,
    count(*) as periods, sum(prev.forecast) as previous_forecast, sum(cur.forecast) as forecast,
    sum(cur.forecast) - sum(prev.forecast) as change,
    (sum(cur.forecast) - sum(prev.forecast)) / nullif(sum(prev.forecast), 0) as change_share
from demandcast.forecast as cur
join demandcast.forecast_history as prev
    on prev.series_id = cur.series_id and prev.period_start = cur.period_start
    and prev.run_id = (select run_id from previous)
join demandcast.series as s on s.series_id = cur.series_id
group by cur.plant_id, cur.product_id, s.link
order by abs(change) desc
