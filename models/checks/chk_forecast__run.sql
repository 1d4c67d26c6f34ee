{#- One row for the whole forecast: every series is forecast from the same
    origin, so each step falls in one period for all (suite forecast__run). -#}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

per_step as (

    select
        step,
        count(distinct period_start) as n_period_starts
    from predictions
    group by all

),

final as (

    select
        (select count(*) from predictions) as n_rows,
        coalesce(max(n_period_starts), 0) as period_starts_per_step
    from per_step

)

select * from final
