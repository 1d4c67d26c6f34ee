{#- Every published run's calibration (int_forecast__calibration), by run,
    so a past run's intervals can be rebuilt (pipeline.rebuild_forecast).
    Appended per run, never rebuilt; a new interval level adds its columns,
    null in older rows. begin_run removes the rows of runs that never
    published; the post-hook those of runs older than memory_keep_runs that
    fct_model_registry no longer holds (macro prune_memory). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
    post_hook="{{ prune_memory('demandcast_calibration_memory') }}",
) }}
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
        calibration.n_residuals
    from calibration
    cross join context
    {% if is_incremental() %}
        where
            context.run_id not in (
                select distinct memory.run_id from {{ this }} as memory
            )
    {% endif %}

)

select * from final
