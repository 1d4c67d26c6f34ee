-- Inactive, new and cold-start series, planned launches, products the master does not list,
-- every other series without a champion's forecast, and champions forecast without a member
-- (a better runner-up has its own list: runner_up.sql).
select
    s.plant_id, s.product_id, s.product_name,
    s.link,
    coalesce(e.exception_type, 'new') as kind, e.model_name, e.detail, s.lifecycle,
    s.demand_class, s.launch_date, s.last_demand_period
from demandcast.series as s
left join demandcast.exceptions as e
    on e.series_id = s.series_id
    and e.exception_type != 'runner_up'
where e.series_id is not null or s.lifecycle = 'new'
order by kind, s.plant_id, s.product_id
