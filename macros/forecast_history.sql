{#- Post-hook of fct_forecast_history. Rows appended before the table had
    frequency, horizon and season_length (an older warehouse: dbt's
    on_schema_change adds the columns, null in those rows) get them from the
    rows themselves, once: the frequency from the gap between the run's
    origin and its first forecast period (1 day, 7 days, or a month), the
    horizon as the run's last step, the season length from that run's rows in
    fct_model_registry (null when it has none). Rows whose frequency cannot be
    told stay null and are never scored (a warn test names them). -#}
{% macro backfill_forecast_history() %}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    {%- set registry = main_table_exists('fct_model_registry') -%}
    update {{ this }} as history
    set
        frequency = runs.frequency,
        horizon = runs.horizon,
        season_length = runs.season_length
    from (
        select
            old.run_id,
            case
                when old.first_gap = 1 then 'day'
                when old.first_gap = 7 then 'week'
                when old.first_gap between 28 and 31 then 'month'
            end as frequency,
            old.horizon,
            {% if registry -%}
                (
                    select max(registry.season_length)
                    from main.fct_model_registry as registry
                    where registry.run_id = old.run_id
                )
            {%- else -%}
                cast(null as integer)
            {%- endif %} as season_length
        from (
            select
                run_id,
                min(period_start - forecast_origin) filter (
                    where step = 1
                ) as first_gap,
                cast(max(step) as integer) as horizon
            from {{ this }}
            where frequency is null
            group by run_id
        ) as old
    ) as runs
    where
        history.run_id = runs.run_id
        and history.frequency is null
        and runs.frequency is not null
{%- endmacro %}


{#- Post-hook of fct_forecast_history. A reused forecast is appended again
    under the run that reused it; forecast_run_id names the run that made it.
    Rows appended before that column existed get it once, from
    fct_model_registry: where the registry says the run reused the series'
    forecast, the latest earlier run of the series that did not reuse (the one
    that fitted it), with that run's start as forecast_created_at; otherwise
    the row's own run. -#}
{% macro backfill_forecast_run() %}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    {%- set registry = main_column_exists('fct_model_registry', 'decision') -%}
    update {{ this }} as history
    set
        forecast_run_id = coalesce(made.forecast_run_id, history.run_id),
        forecast_created_at = coalesce(
            made.forecast_created_at, history.forecast_created_at
        )
    from (
        select
            old.run_id,
            old.series_id,
            {% if registry -%}
                fitted.run_id as forecast_run_id,
                fitted.registered_at as forecast_created_at
            from (
                select distinct run_id, series_id
                from {{ this }}
                where forecast_run_id is null
            ) as old
            left join main.fct_model_registry as reused
                on
                    old.run_id = reused.run_id
                    and old.series_id = reused.series_id
                    and reused.decision = 'reuse'
            left join main.fct_model_registry as fitted
                on
                    reused.series_id = fitted.series_id
                    and fitted.registered_at < reused.registered_at
                    and fitted.decision is distinct from 'reuse'
            qualify row_number() over (
                partition by old.run_id, old.series_id
                order by fitted.registered_at desc nulls last
            ) = 1
            {%- else -%}
                cast(null as varchar) as forecast_run_id,
                cast(null as timestamp) as forecast_created_at
            from (
                select distinct run_id, series_id
                from {{ this }}
                where forecast_run_id is null
            ) as old
            {%- endif %}
    ) as made
    where
        history.forecast_run_id is null
        and history.run_id = made.run_id
        and history.series_id = made.series_id
{%- endmacro %}


{#- Whether main.<table> has the column, asked of DuckDB. -#}
{% macro main_column_exists(table, column) %}
    {%- set found = run_query(
        "select count(*) from information_schema.columns"
        ~ " where table_schema = 'main' and table_name = " ~ sql_string(table)
        ~ " and column_name = " ~ sql_string(column)) -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}


{#- The runs of a forecast history (a relation with fct_forecast_history's
    columns), one row each, in the order they ran: when each started (from
    demandcast_runs; for a run it does not list, the latest forecast_created_at
    of its rows), and the run before it of the same frequency
    (previous_run_id). fct_forecast_runs lists them; int_forecast__previous
    takes the last as this run's previous run. -#}
{% macro history_runs(history) -%}
    select
        runs.*,
        lag(runs.run_id) over (
            partition by runs.frequency
            order by runs.started_at, runs.run_id
        ) as previous_run_id
    from (
        select
            history.run_id,
            any_value(history.frequency) as frequency,
            any_value(history.forecast_origin) as forecast_origin,
            max(history.horizon) as horizon,
            coalesce(
                any_value(log.started_at), max(history.forecast_created_at)
            ) as started_at,
            count(distinct history.series_id) as n_series
        from {{ history }} as history
        left join {{ source('run_control', 'demandcast_runs') }} as log
            on history.run_id = log.run_id
        group by history.run_id
    ) as runs
{%- endmacro %}


{#- Pre-hook of an append-only model one of whose columns was renamed: on a
    table built before the rename, each old column (a key of `renames`) is
    renamed in place to its new name, so the earlier runs' rows keep their
    values under the name every table now uses. -#}
{% macro rename_columns(renames) %}
    {%- set statements = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set existing = adapter.get_columns_in_relation(this)
            | map(attribute='name') | map('lower') | list -%}
        {%- for old, new in renames.items()
            if old in existing and new not in existing -%}
            {%- do statements.append('alter table ' ~ this
                ~ ' rename column ' ~ old ~ ' to ' ~ new) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ (statements | join(';\n')) if statements else 'select 1' }}
{% endmacro %}
