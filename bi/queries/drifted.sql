-- Series whose recent demand shifted in level, variance or share of zeros.
select
    s.plant_id, s.product_id, s.product_name,
    s.link,
    d.level_shift, d.sd_ratio, d.zero_share_change,
    d.is_level_shift, d.is_variance_shift, d.is_zero_share_shift, d.demand_class
from demandcast.drift as d
join demandcast.series as s on s.series_id = d.series_id
where d.is_drifted
order by abs(d.level_shift) desc
