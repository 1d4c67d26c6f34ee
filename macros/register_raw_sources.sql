{#- Runs on-run-start. Finds the raw files under var('raw_path') and exposes
    them as views in the schema `raw`, which the sources in
    models/staging/erp read (the path reaches SQL only as a quoted literal;
    CSV quotes are always '"', found or not in the sniffed sample). orders is
    required and may be orders.parquet, a
    folder orders/ of Parquet files, or orders.csv; products and plants are
    optional (an empty view stands in). A missing file or column, or two
    files of one name (orders.parquet and orders.csv), stops the run before
    any table is touched. -#}


{% macro raw_reader(raw_path, name) %}
    {%- set candidates = [
        (raw_path ~ '/' ~ name ~ '.parquet', 'parquet'),
        (raw_path ~ '/' ~ name ~ '/*.parquet', 'parquet'),
        (raw_path ~ '/' ~ name ~ '.csv', 'csv'),
    ] -%}
    {%- set present = [] -%}
    {%- for pattern, format in candidates -%}
        {%- set found = run_query(
            "select count(*) from glob(" ~ sql_string(pattern) ~ ")") -%}
        {%- if found.columns[0].values()[0] > 0 -%}
            {%- do present.append(pattern) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if present | length > 1 -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: more than one " ~ name ~ " file in raw_path '" ~ raw_path
            ~ "': '" ~ present | join("' and '") ~ "'. Which is the extract is"
            ~ " not guessed: keep one of " ~ name ~ ".parquet, a folder "
            ~ name ~ "/ of Parquet files, or " ~ name ~ ".csv.") }}
    {%- endif -%}
    {%- for pattern, format in candidates -%}
        {%- if pattern in present -%}
            {%- if format == 'parquet' -%}
                {{ return({'pattern': pattern, 'sql':
                    "read_parquet(" ~ sql_string(pattern) ~ ", filename = true,"
                    ~ " file_row_number = true, union_by_name = true)",
                    'row': 'file_row_number + 1'}) }}
            {%- else -%}
                {{ return({'pattern': pattern, 'sql':
                    "read_csv(" ~ sql_string(pattern) ~ ", filename = true,"
                    ~ " quote = '\"', escape = '\"',"
                    ~ " all_varchar = true, header = true)",
                    'row': 'row_number() over ()'}) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}

{#- The dbt commands that read the data (others, like docs generate, run
    without raw files). -#}
{% macro data_commands() %}
    {{ return(['build', 'run', 'test', 'seed', 'snapshot', 'freshness']) }}
{% endmacro %}

{% macro register_raw_sources() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set raw_path = (var('raw_path')
        or env_var('DEMANDCAST_RAW_PATH', 'data/demo')) | string -%}
    {%- set contract = {
        'orders': ['order_date', 'product_id', 'plant_id', 'quantity'],
        'products': ['product_id', 'product_name', 'product_group',
                     'launch_date', 'discontinued_date'],
        'plants': ['plant_id', 'plant_name'],
    } -%}
    {%- set statements = ['create schema if not exists raw'] -%}
    {%- for name, columns in contract.items() -%}
        {%- set reader = raw_reader(raw_path, name) -%}
        {%- if reader is none -%}
            {#- docs generate, compile, show, ...: empty views stand in -#}
            {%- if name == 'orders' and flags.WHICH in data_commands() -%}
                {{ exceptions.raise_compiler_error(
                    "demandcast: no orders file in raw_path '" ~ raw_path
                    ~ "': expected orders.parquet, a folder orders/ of Parquet"
                    ~ " files, or orders.csv. Set the var raw_path or the"
                    ~ " environment variable DEMANDCAST_RAW_PATH.") }}
            {%- endif -%}
            {%- set empty_cols = [] -%}
            {%- for column in columns -%}
                {%- do empty_cols.append('cast(null as varchar) as ' ~ column) -%}
            {%- endfor -%}
            {%- do statements.append(
                'create or replace view raw.' ~ name ~ ' as select '
                ~ empty_cols | join(', ')
                ~ ", cast(null as varchar) as source_file"
                ~ ", cast(null as bigint) as source_row"
                ~ ", cast(null as ubigint) as raw_row_hash where false") -%}
        {%- else -%}
            {%- set described = run_query(
                'select column_name from (describe select * from '
                ~ reader.sql ~ ')') -%}
            {%- set present = [] -%}
            {%- for value in described.columns[0].values() -%}
                {%- do present.append(value | lower) -%}
            {%- endfor -%}
            {%- set missing = [] -%}
            {%- for column in columns -%}
                {%- if column not in present -%}
                    {%- do missing.append(column) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if missing -%}
                {{ exceptions.raise_compiler_error(
                    "demandcast: raw file '" ~ reader.pattern ~ "' (" ~ name
                    ~ ") is missing the column(s) " ~ missing | join(', ')
                    ~ ". Its contract is: " ~ columns | join(', ')
                    ~ " (extra columns are ignored).") }}
            {%- endif -%}
            {%- do statements.append(
                'create or replace view raw.' ~ name ~ ' as select '
                ~ columns | join(', ')
                ~ ', filename as source_file'
                ~ ', ' ~ reader.row ~ ' as source_row'
                ~ ', hash(*columns(* exclude (filename'
                ~ (', file_row_number' if 'file_row_number' in reader.row else '')
                ~ '))) as raw_row_hash'
                ~ ' from ' ~ reader.sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements | join(';\n')) }}
{% endmacro %}
