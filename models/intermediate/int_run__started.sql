{#- The run's identity and the gate settings; upstream of every gate, so the
    gates can record results under the run id before anything else runs. -#}

{%- set docs_path = 'null' -%}
{%- if var('data_docs_path') -%}
    {%- set docs_path = sql_string(var('data_docs_path')) -%}
{%- endif %}

with

final as (

    select
        '{{ invocation_id }}' as run_id,
        '{{ target.name }}' as target_name,
        current_date as run_date,
        current_timestamp as started_at,
        cast({{ var('max_duplicate_share') }} as double)
            as max_duplicate_share,
        cast({{ sql_string(var('min_order_date')) }} as date) as min_order_date,
        cast({{ var('allow_negative_demand') }} as boolean)
            as allow_negative_demand,
        cast({{ var('allow_empty_periods') }} as boolean)
            as allow_empty_periods,
        cast({{ var('max_staleness_periods') or 'null' }} as integer)
            as max_staleness_periods,
        cast({{ var('max_forecast_multiple') }} as double)
            as max_forecast_multiple,
        {{ sql_string(tojson(var('gate_modes'))) }} as gate_modes,
        cast({{ var('data_docs') }} as boolean) as data_docs,
        cast({{ docs_path }} as varchar) as data_docs_path

)

select * from final
