{#- One row per series with its names and profile: what a planner filters
    the forecast by. Planned launches without orders yet (the launches file)
    follow with lifecycle 'launch', no history and no demand class, as
    fct_demand_forecast has them: every forecast series is here. -#}
-- depends_on: {{ ref('gate_series') }}

with

profiled as (

    select * from {{ ref('int_series__profiled') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

plants as (

    select * from {{ ref('stg_erp__plants') }}

),

launches as (

    -- planned launches without orders yet: the series they will be
    select planned.* from {{ ref('stg_erp__launches') }} as planned
    anti join profiled
        on planned.series_id = profiled.series_id

),

final as (

    select
        profiled.series_id,
        profiled.plant_id,
        plants.plant_name,
        profiled.product_id,
        products.product_name,
        profiled.product_group,
        products.launch_date,
        products.discontinued_date,
        profiled.first_period,
        profiled.last_period,
        profiled.last_demand_period,
        profiled.n_periods,
        profiled.n_nonzero,
        profiled.zero_share,
        profiled.adi,
        profiled.cv2,
        profiled.demand_class,
        profiled.lifecycle,
        profiled.is_inactive,
        profiled.is_backtestable,
        profiled.total_demand,
        profiled.mean_demand
    from profiled
    left join products
        on profiled.product_id = products.product_id
    left join plants
        on profiled.plant_id = plants.plant_id

),

launched as (

    select
        launches.series_id,
        launches.plant_id,
        plants.plant_name,
        launches.product_id,
        products.product_name,
        products.product_group,
        launches.launch_date,
        products.discontinued_date,
        null::date as first_period,
        null::date as last_period,
        null::date as last_demand_period,
        0::bigint as n_periods,
        0::bigint as n_nonzero,
        null::double as zero_share,
        null::double as adi,
        null::double as cv2,
        null::varchar as demand_class,
        'launch' as lifecycle,
        false as is_inactive,
        false as is_backtestable,
        0.0 as total_demand,
        null::double as mean_demand
    from launches
    left join products
        on launches.product_id = products.product_id
    left join plants
        on launches.plant_id = plants.plant_id

)

select * from final
union all by name
select * from launched
