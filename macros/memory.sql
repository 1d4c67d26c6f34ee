{#- Post-hook of the memory's models (fct_model_registry,
    demandcast_backtest_memory, demandcast_calibration_memory), each on its
    own table: delete the rows of published runs older than the last
    memory_keep_runs (this run counts as one of them; null keeps every run),
    except what a series still needs. The rows this run just appended are set
    aside, so the state judged is the one the run started from. In the
    registry each series' latest row (what the next decision reads) and the
    row of the run that made its standing forecast (the latest that was not a
    reuse: a reuse's forecast is attributed to it, and it can be rebuilt); in
    the backtest memory the rows of each series' latest backtest (what a refit
    or reuse carries); in the calibration memory the calibration of every run
    still in the registry. fct_forecast_history and fct_retrain_decisions are
    never pruned. Says what it deleted in dbt's log. `run`: the run that
    counts as this one (dbt's invocation id by default). -#}
{% macro prune_memory(table, run=none) %}
    {%- set keep_runs = var('memory_keep_runs', none) -%}
    {%- if not execute or keep_runs is none
        or not main_table_exists('demandcast_runs') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set this_run = sql_string(run or invocation_id) -%}
    {%- set old -%}
        run_id not in (
            select {{ this_run }}
            union
            (
                select run_id from main.demandcast_runs
                where status = 'published'
                order by started_at desc limit {{ keep_runs | int - 1 }}
            )
        )
    {%- endset -%}
    {%- set earlier = 'run_id <> ' ~ this_run -%}
    {%- set latest = "qualify row_number() over (partition by series_id"
        ~ " order by registered_at desc, run_id desc) = 1" -%}
    {%- if table == 'fct_model_registry' -%}
        {#- an older warehouse: fct_forecast_history's backfill (post-hook)
            reads the registry of old runs once; pruned from the next build -#}
        {%- if not (main_column_exists('fct_forecast_history', 'frequency')
            and main_column_exists('fct_forecast_history', 'forecast_run_id')) -%}
            {{ return('') }}
        {%- endif -%}
        {%- set made = "decision is distinct from 'reuse'"
            if main_column_exists('fct_model_registry', 'decision') else 'true' -%}
        {%- set needed -%}
            (run_id, series_id) not in (
                select (run_id, series_id) from main.fct_model_registry
                where {{ earlier }} {{ latest }}
                union all
                select (run_id, series_id) from main.fct_model_registry
                where {{ earlier }} and {{ made }} {{ latest }}
            )
        {%- endset -%}
    {%- elif table == 'demandcast_backtest_memory' -%}
        {%- set needed -%}
            (run_id, series_id) not in (
                select (arg_max(run_id, backtested_at), series_id)
                from main.demandcast_backtest_memory
                where {{ earlier }}
                group by series_id
            )
        {%- endset -%}
    {%- elif table == 'demandcast_calibration_memory' -%}
        {%- set needed -%}
            run_id not in (select distinct run_id from main.fct_model_registry)
        {%- endset -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("prune_memory: no memory " ~ table) }}
    {%- endif -%}
    {%- set deleted = run_query(
        "delete from main." ~ table ~ " where " ~ old ~ " and " ~ needed
        ~ " returning 1").rows | length -%}
    {%- if deleted -%}
        {{ log("retrain: memory pruned (memory_keep_runs " ~ keep_runs
            ~ "; each series' latest state kept): " ~ deleted ~ " rows of "
            ~ table ~ " deleted", info=true) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{#- The three prunes in a build's order (the registry first: the calibration
    memory keeps the runs the registry holds), without a build:
    `dbt run-operation prune_memories --vars '{memory_keep_runs: 4}'`. `run`:
    the run that counts as the current one (default: none of the memory's,
    so the last memory_keep_runs - 1 published runs are kept whole). -#}
{% macro prune_memories(run=none) %}
    {%- for table in ['fct_model_registry', 'demandcast_backtest_memory',
        'demandcast_calibration_memory'] -%}
        {%- if main_table_exists(table) -%}
            {%- do prune_memory(table, run) -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}


{#- In an appended model: whether the run `run_id` (a column) has no rows in
    the model's table yet (true on the first build). -#}
{% macro not_yet_appended(run_id) -%}
    {%- if is_incremental() -%}
        {{ run_id }} not in (select distinct appended.run_id from {{ this }} as appended)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
