{#- The forecast at every level a planner asks for (int_forecast__levels):
    the total, each plant, product group, product across plants, plant x
    product group, and the base plant x product, one coherent set: every level
    sums to the total in every period, and the base level is
    fct_demand_forecast. Planned launches without orders yet
    (int_forecast__launches), which fct_demand_forecast lists after the
    champions' series, are added at every level after reconciliation: a base
    row each, and their forecast and bounds added to every node they belong
    to (a node only launches make is a row of its own). Built only when the
    forecast gate has passed. -#}

{%- set bounds = [] %}
{%- for level in interval_levels() %}
    {%- do bounds.extend(['lo_' ~ level, 'hi_' ~ level]) %}
{%- endfor %}

with

levels as (

    select * from {{ ref('int_forecast__levels') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

launched as (

    select
        launches.series_id,
        planned.plant_id,
        planned.product_id,
        launches.period_start,
        launches.step,
        launches.forecast,
        {%- for b in bounds %}
            launches."{{ b }}",
        {%- endfor %}
        coalesce(products.product_group, '(no group)') as product_group
    from {{ ref('int_forecast__launches') }} as launches
    inner join {{ ref('stg_erp__launches') }} as planned
        on launches.series_id = planned.series_id
    left join {{ ref('stg_erp__products') }} as products
        on planned.product_id = products.product_id

),

keyed as (

    -- a node's key as levels.py writes it: values joined by '|', '\' and '|'
    -- inside a value escaped with '\'
    select
        *,
        replace(replace(plant_id, '\', '\\'), '|', '\|') as plant_key,
        replace(replace(product_id, '\', '\\'), '|', '\|') as product_key,
        replace(replace(product_group, '\', '\\'), '|', '\|') as group_key
    from launched

),

launch_nodes as (

    {%- set nodes = [
        ['total', "'total'", 'null', 'null', 'null'],
        ['plant', 'plant_key', 'plant_id', 'null', 'null'],
        ['product_group', 'group_key', 'null', 'product_group', 'null'],
        ['product', 'product_key', 'null', 'product_group', 'product_id'],
        ['plant_product_group', "plant_key || '|' || group_key", 'plant_id',
            'product_group', 'null'],
        ['plant_product', 'series_id', 'plant_id', 'product_group',
            'product_id'],
    ] %}
    {%- for level, key, plant, grp, product in nodes %}
        select
            '{{ level }}' as level,  -- noqa: RF04
            {{ key }} as level_key,
            cast({{ plant }} as varchar) as plant_id,
            cast({{ grp }} as varchar) as product_group,
            cast({{ product }} as varchar) as product_id,
            period_start,
            step,
            {%- for b in bounds %}
                "{{ b }}",
            {%- endfor %}
            forecast
        from keyed
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

launch_sums as (

    select
        level,
        level_key,
        period_start,
        any_value(plant_id) as plant_id,
        any_value(product_group) as product_group,
        any_value(product_id) as product_id,
        any_value(step) as step,
        sum(forecast) as forecast,
        {%- for b in bounds %}
            sum("{{ b }}") as "{{ b }}",
        {%- endfor %}
        count(*) as n_series
    from launch_nodes
    group by all

),

method as (

    select coalesce(any_value(reconciliation), 'bottom_up') as reconciliation
    from levels

),

combined as (

    select
        coalesce(levels.level, launch_sums.level) as level,  -- noqa: RF04
        coalesce(levels.level_key, launch_sums.level_key) as level_key,
        coalesce(levels.plant_id, launch_sums.plant_id) as plant_id,
        coalesce(levels.product_group, launch_sums.product_group)
            as product_group,
        coalesce(levels.product_id, launch_sums.product_id) as product_id,
        coalesce(levels.period_start, launch_sums.period_start)
            as period_start,
        coalesce(levels.step, launch_sums.step) as step,
        coalesce(levels.forecast, 0) + coalesce(launch_sums.forecast, 0)
            as forecast,
        {%- for b in bounds %}
            coalesce(levels."{{ b }}", 0) + coalesce(launch_sums."{{ b }}", 0)
                as "{{ b }}",
        {%- endfor %}
        coalesce(levels.n_series, 0) + coalesce(launch_sums.n_series, 0)
            as n_series,
        coalesce(levels.bottom_up_forecast, 0)
        + coalesce(launch_sums.forecast, 0) as bottom_up_forecast,
        case
            when levels.level is null then launch_sums.forecast
            else levels.own_forecast
        end as own_forecast,
        coalesce(levels.reconciliation, method.reconciliation)
            as reconciliation,
        levels.backtest_mase,
        levels.bottom_up_mase,
        levels.own_mase
    from levels
    full outer join launch_sums
        on
            levels.level = launch_sums.level
            and levels.level_key = launch_sums.level_key
            and levels.period_start = launch_sums.period_start
    cross join method

),

final as (

    select
        -- keys
        combined.level,
        combined.level_key,
        combined.plant_id,
        combined.product_group,
        combined.product_id,
        combined.period_start,
        combined.step,

        -- forecast
        combined.forecast,
        {{ interval_columns('combined') }}

        -- evidence
        combined.n_series,
        combined.bottom_up_forecast,
        combined.own_forecast,
        combined.reconciliation,
        combined.backtest_mase,
        combined.bottom_up_mase,
        combined.own_mase,

        -- provenance
        context.run_id,
        context.forecast_origin
    from combined
    cross join context

)

select * from final
