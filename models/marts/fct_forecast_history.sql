{#- Every good run's forecast, appended: what was promised when, so accuracy
    can be judged as actuals arrive. Never rewritten. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
) }}

with

forecast as (

    select * from {{ ref('fct_demand_forecast') }}

),

final as (

    select
        plant_id,
        product_id,
        series_id,
        period_start,
        step,
        plant_name,
        product_name,
        forecast,
        {%- for level in var('levels') %}
            lo_{{ level }},
            hi_{{ level }},
        {%- endfor %}
        model_name,
        method,
        fallback_reason,
        demand_class,
        run_id,
        forecast_origin,
        forecast_created_at
    from forecast
    {% if is_incremental() %}
        where
            run_id not in (
                select distinct published.run_id from {{ this }} as published
            )
    {% endif %}

)

select * from final
