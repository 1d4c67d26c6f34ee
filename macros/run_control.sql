{#- A run's life: vars checked before anything is touched (on-run-start), rows
    of runs that never published taken back out of the append-only tables, and
    the published copy replaced in one step when, and only when, every model
    and test of the project ran in this invocation and passed (on-run-end). -#}


{#- A value as a SQL string literal: input reaches SQL quoted, never pasted. -#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{#- Every var of the project, by name, with its value: the names are
    dbt_project.yml's (the vars' one home; the plugin function
    demandcast_var_names reads them from there). Empty while dbt parses. -#}
{% macro project_vars() %}
    {%- set values = {} -%}
    {%- if not execute -%}{{ return(values) }}{%- endif -%}
    {%- set names = fromjson(
        run_query('select demandcast_var_names()').columns[0].values()[0]) -%}
    {%- for name in names -%}
        {%- set value = var(name, none) -%}
        {%- if value is not none and value is not string and value is not number
            and value is not boolean and value is not mapping
            and value is not sequence -%}
            {%- set value = value | string -%}  {#- a YAML date -#}
        {%- endif -%}
        {%- do values.update({name: value}) -%}
    {%- endfor -%}
    {{ return(values) }}
{% endmacro %}


{#- The names of the vars as the command line gave them (--vars): var() sees
    them merged with the project's, so a misspelt name would pass unseen. -#}
{% macro given_var_names() %}
    {%- set given = invocation_args_dict.get('vars') or {} -%}
    {%- if given is string -%}
        {%- set given = fromyaml(given) or {} -%}
    {%- endif -%}
    {%- set names = [] -%}
    {%- if given is mapping -%}
        {%- for name in given -%}
            {%- do names.append(name | string) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names) }}
{% endmacro %}


{% macro check_vars() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set checked = run_query(
        'select demandcast_check_vars('
        ~ sql_string(tojson(project_vars())) ~ ', '
        ~ sql_string(tojson(given_var_names())) ~ ')') -%}
    {%- set errors = checked.columns[0].values()[0] -%}
    {%- if errors -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: wrong vars; the run stopped before touching any table:\n  "
            ~ errors | replace('\n', '\n  ')) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{#- on-run-start, once the raw files are registered: the horizon may not
    exceed the longest series' history (from the first order's period to the
    forecast origin); refused in one line naming the largest allowed. (The
    coalesce keeps DuckDB 2.0 from reading a CSV's dates as a strict cast
    under the try_cast, which fails on a bad date before staging names it.) -#}
{% macro check_horizon() %}
    {%- if not execute or flags.WHICH not in data_commands() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set found = run_query(
        "with dated as (select try_cast(coalesce(order_date, null) as date)"
        ~ " as order_date from raw.orders), bounds as (select min(order_date) as first_date,"
        ~ " max(order_date) as last_date, " ~ date_cadence('dated')
        ~ " as cadence, " ~ last_workday('dated') ~ " as workday"
        ~ " from dated where order_date <= current_date)"
        ~ " select datediff('" ~ frequency() ~ "', "
        ~ period_start('first_date') ~ ", "
        ~ origin_period('last_date', 'cadence', 'workday') ~ ") + 1, "
        ~ origin_period('last_date', 'cadence', 'workday') ~ " from bounds") -%}
    {%- set longest = found.columns[0].values()[0] -%}
    {%- if longest is not none and longest >= 1 and var('horizon') | int > longest -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: wrong vars; the run stopped before touching any table:\n  "
            ~ "var 'horizon': invalid value " ~ var('horizon') ~ ", expected at most "
            ~ longest ~ ": the longest series has " ~ longest ~ " " ~ frequency()
            ~ "s of history up to the forecast origin "
            ~ found.columns[1].values()[0] ~ ", and no series is forecast further"
            ~ " ahead than that") }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{#- A forecasting setting as the engine resolves it (config.Settings): the
    var, or the default where it is null, e.g. min_train_length = the larger
    of the horizon and half a season. Text; the caller casts it. Defaults of
    the engine's settings live in Settings only. -#}
{% macro setting(name) -%}
    demandcast_setting({{ sql_string(tojson(project_vars())) }}, {{ sql_string(name) }})
{%- endmacro %}


{#- Where BI tools read: the var published_path, or beside the warehouse file
    (warehouse/dev.duckdb -> warehouse/dev_published.duckdb). -#}
{% macro published_path() %}
    {%- set path = var('published_path', none) -%}
    {%- if path -%}{{ return(path) }}{%- endif -%}
    {%- set db = target.path | string -%}
    {%- if db.endswith('.duckdb') -%}
        {{ return(db[:-7] ~ '_published.duckdb') }}
    {%- endif -%}
    {{ return(db ~ '_published.duckdb') }}
{% endmacro %}


{#- Whether main.<name> exists, asked of DuckDB (dbt's relation cache does not
    know tables made by hooks in this run). -#}
{% macro main_table_exists(name) %}
    {%- set found = run_query(
        "select count(*) from information_schema.tables"
        ~ " where table_schema = 'main' and table_name = " ~ sql_string(name)) -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}


{#- The append-only tables: they keep every published run's rows. -#}
{% macro append_only_tables() %}
    {{ return([
        'fct_forecast_history', 'fct_model_registry', 'fct_retrain_decisions',
        'demandcast_backtest_memory', 'demandcast_calibration_memory',
    ]) }}
{% endmacro %}


{% macro begin_run() %}
    {%- if not execute or flags.WHICH not in ['build', 'run', 'test', 'seed'] -%}
        {{ return('') }}  {#- freshness, docs generate, ...: not a run -#}
    {%- endif -%}
    {%- do run_query(
        "create table if not exists main.demandcast_runs ("
        ~ " run_id varchar primary key, target_name varchar,"
        ~ " started_at timestamp, finished_at timestamp,"
        ~ " status varchar, message varchar)") -%}
    {#- a run that failed, was killed or published nothing leaves no rows behind -#}
    {%- for table in append_only_tables() -%}
        {%- if main_table_exists(table) -%}
            {%- do run_query(
                "delete from main." ~ table ~ " where run_id in (select run_id"
                ~ " from main.demandcast_runs where status <> 'published')") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do run_query(
        "update main.demandcast_runs set status = 'abandoned',"
        ~ " message = 'the process ended before the run finished'"
        ~ " where status = 'started'") -%}
    {%- do run_query(
        "insert into main.demandcast_runs values ("
        ~ sql_string(invocation_id) ~ ", " ~ sql_string(target.name)
        ~ ", current_timestamp, null, 'started', null)") -%}
    {{ return('') }}
{% endmacro %}


{#- A node's error on one line, at most 600 characters, without dbt's first
    line when that only repeats the node ("Runtime Error in model x (path)"),
    nor a gate report's rule, why and Data Docs lines (the full report follows
    in dbt's output): the line keeps what failed, the values seen and the
    rows, file and row included. -#}
{% macro error_text(message, name) %}
    {%- set lines = [] -%}
    {%- for line in (message | string).splitlines() if line.strip() -%}
        {%- if not line.strip().startswith(('rule: ', 'why: ', 'Data Docs: ')) -%}
            {%- do lines.append(line.strip()) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if lines | length > 1 and name in lines[0] and lines[0].endswith(')') -%}
        {%- set lines = lines[1:] -%}
    {%- endif -%}
    {{ return(lines | join(' ') | truncate(600, true, '...', 0)) }}
{% endmacro %}


{% macro end_run(results) %}
    {%- if not execute or flags.WHICH not in ['build', 'run', 'test', 'seed'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- if not main_table_exists('demandcast_runs') -%}
        {{ return('') }}  {#- the run stopped in on-run-start -#}
    {%- endif -%}
    {%- set statuses = {} -%}
    {%- for result in results -%}
        {%- do statuses.update({result.node.unique_id: result.status | string}) -%}
    {%- endfor -%}
    {%- set missing = {'model': [], 'test': []} -%}
    {%- set failed = [] -%}
    {%- set published = [] -%}
    {%- for node in graph.nodes.values()
        if node.package_name == project_name
        and node.resource_type in ['model', 'test', 'seed', 'unit_test'] -%}
        {%- if statuses.get(node.unique_id) is none -%}
            {%- do missing['model' if node.resource_type in ['model', 'seed']
                else 'test'].append(node.name) -%}
        {%- endif -%}
        {%- if node.resource_type == 'model' and 'published' in node.tags -%}
            {%- do published.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- errors and failures first, then what was skipped because of them; from
        the results, which hold the unit tests too (graph.nodes does not) -#}
    {%- for result in results
        if result.node.package_name == project_name
        and result.node.resource_type in ['model', 'test', 'seed', 'unit_test']
        and (result.status | string) not in ['success', 'pass', 'warn'] -%}
        {%- set status = result.status | string -%}
        {%- do failed.append({
            'rank': {'error': 0, 'fail': 1, 'skipped': 3}.get(status, 2),
            'name': result.node.name, 'status': status,
            'message': result.message,
            'query': result.node.compiled_code
                if status == 'fail' and result.node.resource_type == 'test' else none}) -%}
    {%- endfor -%}
    {%- set path = published_path() -%}
    {%- if failed or missing.model or missing.test -%}
        {%- if failed -%}
            {%- set ordered = failed | sort(attribute='rank,name') -%}
            {%- set first = ordered[0] -%}
            {%- set why = first.name ~ ' (' ~ first.status ~ ')' -%}
            {%- if first.message -%}
                {%- set why = why ~ ': ' ~ error_text(first.message, first.name) -%}
            {%- endif -%}
            {%- if first.query -%}
                {#- a failed data test: its first failing rows (a column and its
                    nulls, a duplicated key, a value out of range) -#}
                {%- set rows = run_query('select * from (' ~ first.query
                    ~ ') as failing limit 3') -%}
                {%- set shown = [] -%}
                {%- for row in rows.rows -%}
                    {%- set cells = [] -%}
                    {%- for column in rows.column_names
                        if row[column] is not none -%}
                        {%- do cells.append(column ~ '=' ~ row[column]) -%}
                    {%- endfor -%}
                    {%- do shown.append(cells | join(', ')) -%}
                {%- endfor -%}
                {%- if shown -%}
                    {%- set why = why ~ ' (failing rows: ' ~ shown | join('; ')
                        | truncate(300, true, '...', 0) ~ ')' -%}
                {%- endif -%}
            {%- endif -%}
            {%- set names = [] -%}
            {%- for item in ordered[:8] -%}
                {%- do names.append(item.name ~ ' (' ~ item.status ~ ')') -%}
            {%- endfor -%}
            {%- set why = why ~ '. ' ~ failed | length ~ ' node(s) did not pass: '
                ~ names | join(', ')
                ~ (' and ' ~ (failed | length - 8) ~ ' more' if failed | length > 8
                else '') -%}
        {%- else -%}
            {%- set left = missing.model | sort -%}
            {%- set why = 'the selection left out ' ~ left | length
                ~ ' model(s) (' ~ left[:6] | join(', ')
                ~ (', ...' if left | length > 6 else '') ~ ') and '
                ~ missing.test | length ~ ' test(s); only a complete'
                ~ ' dbt build publishes' -%}
        {%- endif -%}
        {%- do run_query(
            "update main.demandcast_runs set status = 'not published',"
            ~ " finished_at = current_timestamp, message = " ~ sql_string(why)
            ~ " where run_id = " ~ sql_string(invocation_id)) -%}
        {%- set kept = run_query("select count(*) from glob("
            ~ sql_string(path) ~ ")").columns[0].values()[0] -%}
        {%- do exceptions.warn("demandcast: run " ~ invocation_id
            ~ " NOT published: " ~ why ~ ". " ~ path
            ~ (" still holds the last good run." if kept
            else " does not exist: no run of this target has been published"
            ~ " yet.")) -%}
        {{ return('') }}
    {%- endif -%}
    {#- the run is marked published only once its copy is in place; a copy that
        cannot be put there leaves no staging file, and the run, 'not published',
        is treated as a failed one (begin_run takes its rows back out) -#}
    {%- set problem = run_query(
        "select demandcast_publish_problem(" ~ sql_string(path) ~ ")"
        ).columns[0].values()[0] -%}
    {%- if not problem -%}
        {%- set staging = path ~ '.' ~ invocation_id ~ '.tmp' -%}
        {#- in DuckDB 1.0's storage format, which every DuckDB from 1.0 on reads:
            the BI tools' drivers (Evidence's, DBeaver's, Metabase's) are older
            than the project's DuckDB, whose own format they cannot open -#}
        {%- do run_query(
            "attach " ~ sql_string(staging) ~ " as demandcast_publishing"
            ~ " (storage_version 'v1.0.0')") -%}
        {%- for table in published | sort -%}
            {%- do run_query(
                "create table demandcast_publishing.main." ~ table
                ~ " as select * from main." ~ table) -%}
        {%- endfor -%}
        {%- do run_query(
            "create table demandcast_publishing.main.publication as select"
            ~ " run_id, " ~ sql_string(target.name) ~ " as target_name, frequency,"
            ~ " horizon, season_length,"
            ~ " forecast_origin, forecast_start, data_start_date, data_end_date,"
            ~ " started_at, current_timestamp as published_at"
            ~ " from main.int_run__context") -%}
        {#- the run's gate results (every one passed, or is warn-level) -#}
        {%- do run_query(
            "create table demandcast_publishing.main.publication_gates as select"
            ~ " suite, table_name, expectation, column_name, success, mode,"
            ~ " observed_value, unexpected_count, validated_at"
            ~ " from main.gate_results where run_id = " ~ sql_string(invocation_id)) -%}
        {%- do run_query("detach demandcast_publishing") -%}
        {%- set problem = run_query(
            "select demandcast_replace_file(" ~ sql_string(staging) ~ ", "
            ~ sql_string(path) ~ ")").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if problem -%}
        {%- do run_query(
            "update main.demandcast_runs set status = 'not published',"
            ~ " finished_at = current_timestamp, message = " ~ sql_string(problem)
            ~ " where run_id = " ~ sql_string(invocation_id)) -%}
        {#- every node passed: the line says why, as for a failed node; the failing
            statement makes the run fail (exit 1), its text under DuckDB's prefix -#}
        {%- do exceptions.warn("demandcast: run " ~ invocation_id
            ~ " NOT published: " ~ problem) -%}
        {{ return("select error(" ~ sql_string("demandcast: run " ~ invocation_id
            ~ " failed at publishing (the line above says why)") ~ ")") }}
    {%- endif -%}
    {%- do run_query(
        "update main.demandcast_runs set status = 'published',"
        ~ " finished_at = current_timestamp, message = " ~ sql_string(path)
        ~ " where run_id = " ~ sql_string(invocation_id)) -%}
    {{ log("demandcast: run " ~ invocation_id ~ " published to " ~ path
        ~ " (" ~ (published | length + 2) ~ " tables: the run's " ~ published | length
        ~ ", publication and publication_gates)", info=true) }}
    {{ return('') }}
{% endmacro %}
