{#- Every published run's calibration (int_forecast__calibration), by run,
    so a past run's intervals can be rebuilt (pipeline.rebuild_forecast).
    Appended per run, never rebuilt; a new interval level adds its columns,
    null in older rows. begin_run removes the rows of runs that never
    published; the post-hook those of runs older than memory_keep_runs that
    fct_model_registry no longer holds (macro prune_memory). -#}
-- depends_on: {{ ref('fct_model_registry') }}

with

calibration as (

    select * from {{ ref('int_forecast__calibration') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

final as (

    select
        context.run_id,
        calibration.demand_class,
        calibration.model_name,
        calibration.step,
        {{ interval_columns('calibration') }}
        {{ top_columns('calibration') }}
        calibration.n_residuals
    from calibration
    cross join context
    where {{ not_yet_appended('context.run_id') }}

)

select * from final
