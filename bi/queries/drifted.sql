-- Series whose recent demand shifted in level, variance or share of zeros, and whether
-- this run selected their model again on it (decision reselect: the report lists them in
-- Needs a look only beside another flag).
select
    s.plant_id, s.product_id, s.product_name,
    s.link,
    d.level_shift, d.sd_ratio, d.zero_share_change,
    d.is_level_shift, d.is_variance_shift, d.is_zero_share_shift, d.demand_class,
    r.decision
from demandcast.drift as d
join demandcast.series as s on s.series_id = d.series_id
left join demandcast.registry as r on r.series_id = d.series_id
where d.is_drifted
order by r.decision = 'reselect', abs(d.level_shift) desc
