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

    select * from forecast
    {% if is_incremental() %}
        where run_id not in (select distinct run_id from {{ this }})
    {% endif %}

)

select * from final
