-- Series with a forecast period above the history's highest period or below its lowest.
with h as (
    select series_id, min(demand) as history_min, max(demand) as history_max
    from demandcast.history group by series_id
)
select
    f.plant_id, f.product_id, any_value(f.product_name) as product_name,
    s.link,
    h.history_min, h.history_max, min(f.forecast) as forecast_min, max(f.forecast) as forecast_max,
    any_value(f.model_name) as model_name
from demandcast.forecast as f
join h on h.series_id = f.series_id
join demandcast.series as s on s.series_id = f.series_id
group by f.plant_id, f.product_id, s.link, h.history_min, h.history_max
having max(f.forecast) > h.history_max or min(f.forecast) < h.history_min
order by max(f.forecast) / nullif(h.history_max, 0) desc
