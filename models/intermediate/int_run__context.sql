{#- One row that every later stage reads: the run id, the frequency and the
    forecast origin (start of the last period in the history). By default the
    origin is the last complete period in the data. -#}

with

orders as (

    select order_date from {{ ref('stg_erp__orders') }}
    where not is_duplicate and order_date is not null

),

bounds as (

    select
        min(order_date) as data_start_date,
        max(order_date) as data_end_date
    from orders

),

origin as (

    select
        data_start_date,
        data_end_date,
        {% if var('forecast_origin') -%}
            {{ period_start("cast('" ~ var('forecast_origin') ~ "' as date)") }}
        {%- else -%}
            case
                when
                    {{ period_start('data_end_date + 1') }}
                    > {{ period_start('data_end_date') }}
                    then {{ period_start('data_end_date') }}
                else
                    cast(
                        {{ period_start('data_end_date') }}
                        - {{ period_interval() }} as date
                    )
            end
        {%- endif %} as forecast_origin
    from bounds

),

final as (

    select
        '{{ invocation_id }}' as run_id,
        '{{ frequency() }}' as frequency,
        forecast_origin,
        cast(
            forecast_origin + {{ period_interval() }} as date
        ) as forecast_start,
        cast({{ var('horizon') }} as integer) as horizon,
        cast({{ var('season_length') }} as integer) as season_length,
        data_start_date,
        data_end_date,
        current_timestamp as started_at
    from origin

)

select * from final
