{#- One row per series with its names and profile: what a planner filters
    the forecast by. -#}
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

)

select * from final
