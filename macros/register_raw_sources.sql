{#- Runs on-run-start. Finds the raw files under var('raw_path') and exposes
    them as views in the schema `raw`, which the sources in
    models/staging/erp read (the path reaches SQL only as a quoted literal;
    CSV quotes are always '"', found or not in the sniffed sample). orders is
    required and may be orders.parquet, a
    folder orders/ of Parquet files, or orders.csv; products, plants and
    launches are optional (an empty view stands in), and so is the launches
    column analog_product_id (null stands in). A missing file or column, two
    files of one name (orders.parquet and orders.csv), a Parquet file that
    cannot be read, a timestamp with time zone whose zone the file does not
    name, or a products or plants file with no id or none of whose ids is in
    the orders stops the run before any table is touched, in one line naming
    the file.
    Extra columns are ignored (one named filename too: the reader's own
    column has a name no extract uses), but for raw_row_hash: the hash of a
    line's raw columns, the orders' contract columns left out (staging
    compares those parsed and trimmed, so 'P1 ' and 'P1' lines are one);
    null for an orders file with no extra column (nothing tells two equal
    lines of it apart: staging keeps both). -#}


{#- The reader of raw file `name`: the project's one finder
    (demandcast.raw.find_raw_file, through the plugin's demandcast_raw_file;
    the CLI calls it too) says which file, this macro how DuckDB reads it. -#}
{% macro raw_reader(raw_path, name) %}
    {%- set found = fromjson(run_query(
        "select demandcast_raw_file(" ~ sql_string(raw_path) ~ ", "
        ~ sql_string(name) ~ ")").columns[0].values()[0]) -%}
    {%- if found.error -%}
        {{ exceptions.raise_compiler_error("demandcast: " ~ found.error) }}
    {%- endif -%}
    {%- if not found.pattern -%}{{ return(none) }}{%- endif -%}
    {%- set pattern = found.pattern -%}
    {%- if found.format == 'parquet' -%}
        {{ return({'pattern': pattern, 'sql':
            "read_parquet(" ~ sql_string(pattern)
            ~ ", filename = '_demandcast_file',"
            ~ " file_row_number = true, union_by_name = true)",
            'row': 'file_row_number + 1', 'format': found.format}) }}
    {%- endif -%}
    {{ return({'pattern': pattern, 'sql':
        "read_csv(" ~ sql_string(pattern)
        ~ ", filename = '_demandcast_file',"
        ~ " quote = '\"', escape = '\"',"
        ~ " all_varchar = true, header = true)",
        'row': 'row_number() over ()', 'format': found.format}) }}
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
        'launches': ['plant_id', 'product_id', 'launch_date', 'analog_product_id'],
    } -%}
    {#- columns a file may leave out (null stands in) -#}
    {%- set optional_columns = {
        'products': ['launch_date', 'discontinued_date'],
        'launches': ['analog_product_id'],
    } -%}
    {%- set statements = ['create schema if not exists raw'] -%}
    {%- set readers = {} -%}
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
            {%- if reader.format == 'parquet' -%}
                {%- set problem = run_query(
                    'select demandcast_parquet_problem('
                    ~ sql_string(reader.pattern) ~ ')').columns[0].values()[0] -%}
                {%- if problem -%}
                    {{ exceptions.raise_compiler_error(
                        "demandcast: raw file '" ~ problem.split('\t')[0] ~ "' (" ~ name
                        ~ ") is not a readable Parquet file (" ~ problem.split('\t')[1]
                        ~ "). Re-export it from the ERP (or restore a good copy); nothing"
                        ~ " was built.") }}
                {%- endif -%}
            {%- endif -%}
            {%- set described = run_query(
                'select column_name, column_type from (describe select * from '
                ~ reader.sql ~ ')') -%}
            {%- set present = [] -%}
            {%- set types = {} -%}
            {%- for value in described.columns[0].values() -%}
                {%- do present.append(value | lower) -%}
                {%- do types.update({value | lower:
                    described.columns[1].values()[loop.index0]}) -%}
            {%- endfor -%}
            {%- set shown = [] -%}  {#- the file's own columns, not the reader's -#}
            {%- for value in present if not value.startswith('_demandcast') -%}
                {%- do shown.append(value) -%}
            {%- endfor -%}
            {%- set missing = [] -%}
            {%- for column in columns -%}
                {%- if column not in present
                    and column not in optional_columns.get(name, []) -%}
                    {%- do missing.append(column) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if missing -%}
                {{ exceptions.raise_compiler_error(
                    "demandcast: raw file '" ~ reader.pattern ~ "' (" ~ name
                    ~ ") is missing the column(s) " ~ missing | join(', ')
                    ~ "; it has: " ~ shown | join(', ')
                    ~ ". Its contract is: " ~ columns | join(', ')
                    ~ ((" (" ~ optional_columns[name] | join(', ')
                        ~ " may be left out)") if name in optional_columns else "")
                    ~ " (extra columns are ignored).") }}
            {%- endif -%}
            {%- set selected = [] -%}
            {%- for column in columns -%}
                {%- if column not in present -%}
                    {%- do selected.append('cast(null as varchar) as ' ~ column) -%}
                {%- elif types[column] in ('TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ_NS') -%}
                    {%- do selected.append(local_date(reader, name, column)
                        ~ ' as ' ~ column) -%}
                {%- else -%}
                    {%- do selected.append(column) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do readers.update({name: {'reader': reader, 'types': types}}) -%}
            {#- the orders' extra columns (an order number): none, no hash -#}
            {%- set extra = [] -%}
            {%- for column in shown if column not in contract.orders
                and column != 'file_row_number' -%}
                {%- do extra.append(column) -%}
            {%- endfor -%}
            {%- set row_hash = 'cast(null as ubigint)'
                if name == 'orders' and not extra else
                'hash(0, *columns(* exclude (_demandcast_file'
                ~ (', file_row_number' if 'file_row_number' in reader.row else '')
                ~ ((', ' ~ contract.orders | join(', ')) if name == 'orders' else '')
                ~ ')))' -%}
            {%- do statements.append(
                'create or replace view raw.' ~ name ~ ' as select '
                ~ selected | join(', ')
                ~ ', _demandcast_file as source_file'
                ~ ', ' ~ reader.row ~ ' as source_row'
                ~ ', ' ~ row_hash ~ ' as raw_row_hash'
                ~ ' from ' ~ reader.sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if flags.WHICH in data_commands() and 'orders' in readers -%}
        {%- for name, key in [('products', 'product_id'), ('plants', 'plant_id')] -%}
            {%- if name in readers -%}
                {%- do check_ids_match(readers.orders, readers[name], name, key) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(statements | join(';\n')) }}
{% endmacro %}

{#- A timestamp with time zone (Parquet keeps the UTC instant) as the date of
    the zone its writer stored with the column (pandas, pyarrow and polars
    do: '+01:00', 'Europe/Berlin'), so 00:30 at +01:00 is that day, not the
    UTC day before. A file that names no zone stops the run. -#}
{% macro local_date(reader, name, column) %}
    {%- set zone = run_query(
        'select demandcast_parquet_timezone(' ~ sql_string(reader.pattern) ~ ', '
        ~ sql_string(column) ~ ')').columns[0].values()[0]
        if reader.format == 'parquet' else '' -%}
    {%- if not zone -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: raw file '" ~ reader.pattern ~ "' (" ~ name ~ "): column "
            ~ column ~ " is a timestamp with time zone and the file does not say in"
            ~ " which zone its dates are the plant's dates. Export " ~ column
            ~ " as a date (the plant's local date) or a timestamp without time"
            ~ " zone.") }}
    {%- endif -%}
    {%- set offset = modules.re.match('^(?:UTC|GMT)?([+-])(\\d{1,2}):?(\\d{2})?$', zone) -%}
    {%- if zone in ('UTC', 'Z', 'Etc/UTC', 'GMT') -%}
        {{ return("cast(timezone('UTC', " ~ column ~ ") as date)") }}
    {%- elif offset -%}
        {%- set minutes = (offset.group(2) | int) * 60 + (offset.group(3) or '0') | int -%}
        {{ return("cast(timezone('UTC', " ~ column ~ ") + to_minutes("
            ~ ('-' if offset.group(1) == '-' else '') ~ minutes ~ ") as date)") }}
    {%- else -%}
        {{ return("cast(timezone(" ~ sql_string(zone) ~ ", " ~ column ~ ") as date)") }}
    {%- endif -%}
{% endmacro %}

{#- Ids are text: products.product_id 21 and orders.product_id '00021' are
    two ids. A products or plants file without ids (a header-only export)
    stops the run; one none of whose ids is in the orders
    (a lost leading zero, ids of another system) stops the run, naming both
    forms. -#}
{% macro check_ids_match(orders, master, name, key) %}
    {%- set as_text = "nullif(trim(cast(" ~ key ~ " as varchar)), '')" -%}
    {%- set found = run_query(
        "with o as (select distinct " ~ as_text ~ " as id from "
        ~ orders.reader.sql ~ "), m as (select distinct " ~ as_text ~ " as id from "
        ~ master.reader.sql ~ " where " ~ as_text ~ " is not null),"
        ~ " near as (select m.id as m_id, min(o.id) as o_id from m join o"
        ~ " on ltrim(m.id, '0') = ltrim(o.id, '0') group by all)"
        ~ " select (select count(*) from m),"
        ~ " (select count(*) from m where id in (select id from o)),"
        ~ " coalesce((select min(m_id) from near), (select min(id) from m)),"
        ~ " coalesce((select min(o_id) from near"
        ~ " where m_id = (select min(m_id) from near)), (select min(id) from o))") -%}
    {%- set row = found.rows[0] -%}
    {#- an empty orders extract is the orders gate's to name -#}
    {%- if row[0] == 0 and row[3] is not none -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: raw file '" ~ master.reader.pattern ~ "' (" ~ name
            ~ ") holds no " ~ key ~ " (a header-only or failed export?); the"
            ~ " run would go on as without the file, every " ~ key ~ " unknown to"
            ~ " it. Re-export it, or remove the file to run without one.") }}
    {%- endif -%}
    {%- if row[0] > 0 and row[1] == 0 and row[3] is not none -%}
        {{ exceptions.raise_compiler_error(
            "demandcast: raw file '" ~ master.reader.pattern ~ "': " ~ name ~ "."
            ~ key ~ " " ~ id_form(row[2], master.types[key]) ~ " matches no orders."
            ~ key ~ " (none of its " ~ row[0] ~ " ids does); orders have "
            ~ id_form(row[3], orders.types[key]) ~ ". Ids are compared as text: export " ~ name ~ " with the ids the"
            ~ " orders use (e.g. as text, with their leading zeros).") }}
    {%- endif -%}
{% endmacro %}

{#- An id as its file holds it: 21 for a number, '00021' for text. -#}
{% macro id_form(value, type) %}
    {%- if type.split('(')[0] in ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT',
            'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'DOUBLE',
            'FLOAT', 'DECIMAL') -%}
        {{ return(value | string) }}
    {%- endif -%}
    {{ return("'" ~ value ~ "'") }}
{% endmacro %}
