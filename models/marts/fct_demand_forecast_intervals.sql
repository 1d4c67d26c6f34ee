{#- Every prediction interval of fct_demand_forecast, one row per series,
    future period and level of the var `levels`: the long form a BI tool
    filters by level, and the one place levels other than 80 and 95 (the
    contracted columns of fct_demand_forecast) are published. The bounds are
    those of the statistical forecast: the base level of the coherent set
    (int_forecast__levels) and planned launches (int_forecast__launches).
    Built only when the forecast gate has passed. -#}
{%- set levels = interval_levels() %}

with

forecast as (

    select * from {{ ref('fct_demand_forecast') }}

),

coherent as (

    select
        {{ interval_columns('base') }}
        level_key as series_id,
        step
    from {{ ref('int_forecast__levels') }} as base
    where level = 'plant_product'

),

launched as (

    select
        {{ interval_columns('launches') }}
        series_id,
        step
    from {{ ref('int_forecast__launches') }} as launches

),

bounds as (

    select * from coherent
    union all
    select * from launched

),

final as (

    {%- for level in levels %}
        {%- if not loop.first %}
            union all
        {%- endif %}

        select
            forecast.plant_id,
            forecast.product_id,
            forecast.series_id,
            forecast.period_start,
            forecast.step,
            cast({{ level }} as double) as interval_level,
            bounds."lo_{{ level }}" as lo,
            bounds."hi_{{ level }}" as hi,
            forecast.run_id
        from forecast
        inner join bounds
            on
                forecast.series_id = bounds.series_id
                and forecast.step = bounds.step
    {%- endfor %}

)

select * from final
